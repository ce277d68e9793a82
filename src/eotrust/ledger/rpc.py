"""Any Ethereum JSON-RPC node over HTTP (anvil, geth, besu, a public network): the provider,
its retries, and the dev accounts a local node may have funded."""

from __future__ import annotations

import requests
from web3 import HTTPProvider
from web3.providers.rpc.utils import ExceptionRetryConfiguration

#: anvil's (and hardhat's) first well-known dev account: funds parties on a local dev chain.
ANVIL_DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

#: Every method eotrust sends is safe to repeat: reads, and raw transactions (same bytes,
#: same hash; a repeat is answered "already known" or "nonce too low" and handled).
RETRIED_METHODS = (
    "eth_chainId",
    "eth_blockNumber",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBalance",
    "eth_getCode",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_getTransactionByHash",
    "eth_getLogs",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_sendRawTransaction",
    "net_version",
    "web3_clientVersion",
)


def http_provider(url: str, *, timeout_s: float = 30.0, retries: int = 4) -> HTTPProvider:
    """An HTTP provider that retries transient connection errors with exponential backoff."""
    return HTTPProvider(
        url,
        request_kwargs={"timeout": timeout_s},
        exception_retry_configuration=ExceptionRetryConfiguration(
            errors=(ConnectionError, requests.ConnectionError, requests.Timeout),
            retries=retries,
            backoff_factor=0.25,
            method_allowlist=RETRIED_METHODS,
        ),
    )
