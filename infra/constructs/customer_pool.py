"""The customers' identities: an Amazon Cognito user pool they sign up to with their email, and
the app client they sign in through. The API's customer routes take the customer from the ID
token this pool signs (its `sub`), never from a request's body (docs/SECURITY.md)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra import compliance
from infra.config import StageConfig

# How long a signed-in customer's ID token is honoured: the API cannot revoke one it has issued
# (API Gateway checks its signature and expiry, not whether the user still exists), so it is short.
ID_TOKEN_VALIDITY = Duration.hours(1)


class CustomerPool(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.pool = cognito.UserPool(
            self,
            "Pool",
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_lowercase=True, require_uppercase=True, require_digits=True, require_symbols=True
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            deletion_protection=config.retain_data,
            removal_policy=config.removal_policy,
        )
        compliance.excuse(self.pool, compliance.OPTIONAL_CUSTOMER_MFA)
        self.client = self.pool.add_client(
            "AppClient",
            # SRP for apps; the password flow for the AWS CLI and the tests (over TLS on AWS).
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            generate_secret=False,  # a public client: a browser or a phone holds no secret
            prevent_user_existence_errors=True,
            id_token_validity=ID_TOKEN_VALIDITY,
            access_token_validity=ID_TOKEN_VALIDITY,
            refresh_token_validity=Duration.days(30),
            enable_token_revocation=True,
        )
