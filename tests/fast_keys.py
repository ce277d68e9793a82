"""The scrypt cost (N) of every keystore the tests make: the smallest eotrust accepts
(``Settings.keystore_scrypt_n``, production default 2**16), so that creating and unlocking
parties costs milliseconds. Keystore strength itself is tested with its own values."""

SCRYPT_N = 1024
