"""Dead letters: payloads the ingester refused, for whoever fixes the meters or the gateway."""
