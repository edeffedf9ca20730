"""Order fulfilment saga: payment, then stock, then completion, with compensation."""
