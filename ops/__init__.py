"""Operations tools: redrive dead letters, replay the archive, rebuild the read model, trace a
conversation. They use only the AWS APIs and the stacks' outputs, so they work on AWS (your
credentials) and on the local cloud (AWS_ENDPOINT_URL, which the Makefile sets)."""
