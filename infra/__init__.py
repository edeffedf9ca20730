"""CDK app: stacks, constructs, stage settings and the security gate of the order platform."""

import os

# jsii (the CDK's bridge to Node.js) warns on every start that Node 20 is end-of-life; the
# CDK works on it, and the warning would drown every synth's and every test's output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
