"""What opening a second factor's secret costs at a code check, with the derived key
already in this process (as every check after the first) and without (as every check
did before the key was kept).

    .venv/bin/python bench/sealing.py [-n 20]

Prints the median time of one code check's share of the work: unsealing the TOTP secret
and comparing the code of the three steps around now (`idp.mfa.service`'s own steps).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import pyotp

from idp.keys import sealing
from idp.mfa.service import SEALING_PURPOSE, STEP, _matching_step


def median_ms(work: Callable[[], object], runs: int, before: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    runs = parser.parse_args().runs
    secret, passphrase, bound = pyotp.random_base32(), "bench-passphrase", "totp:1"
    stored = sealing.seal(secret.encode(), passphrase, bound, purpose=SEALING_PURPOSE)
    code = pyotp.TOTP(secret, interval=STEP).now()

    def check() -> None:
        opened = sealing.unseal(stored, passphrase, bound).decode()
        assert _matching_step(opened, code, time.time()) is not None

    cold = median_ms(check, runs, sealing._key.cache_clear)
    warm = median_ms(check, runs * 50, lambda: None)
    print(f"code check, key derived each time ({sealing.ITERATIONS:,} PBKDF2 iterations): "
          f"{cold:.2f} ms")
    print(f"code check, key kept in the process: {warm:.3f} ms ({cold / warm:,.0f}x less)")


if __name__ == "__main__":
    main()
