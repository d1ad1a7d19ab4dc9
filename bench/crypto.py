"""Benchmark: field encryption and decryption through the column types (with the organisation's
data-key look-up) against raw AESGCM on the same values, in the same run.

    .venv/bin/python bench/crypto.py [--values 100000] [--repeat 5]

No database is needed: the column types' bind and result processing is what every INSERT,
UPDATE and SELECT of an encrypted column runs. Three paths are timed, best of ``--repeat``:

* raw (the baseline): ``nonce + AESGCM.encrypt(nonce, value, aad)`` with a random 12-byte nonce,
  and ``AESGCM.decrypt(stored[:12], stored[12:], aad)``, with one key object: the plainest
  correct use of the same primitive, storing nonce and ciphertext together;
* service key: ``EncryptedString("user_account.email")`` bind / result processing, i.e. the
  keyring look-up in the app context, the key file check, the ciphertext header;
* organisation data key: ``EncryptedString("contact.email")`` inside ``organisation_scope`` over
  100 organisations, i.e. also the scope, the data-key look-up (the store caches unwrapped keys)
  and the key id in the header.

Target (issue 9): >= 0.8 x raw AESGCM for encryption and decryption.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.support import bench_app

TARGET = 0.8
ORGANISATIONS = 100


def best(repeat: int, run) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    app = bench_app("sqlite:///:memory:", "crypto")
    values = [f"person{n}@example.org" for n in range(args.values)]
    encoded = [value.encode() for value in values]

    from privacy_service import crypto
    from privacy_service.crypto import EncryptedString
    from privacy_service.mail.models import Contact  # noqa: F401 - registers contact.email

    with app.app_context():
        ring = crypto.keyring()
        raw_cipher = AESGCM(ring.encryption_keys[ring.primary_key_id])
        aad = b"contact.email"
        # What a raw implementation stores: nonce + ciphertext in one value.
        raw_sealed = []
        for value in encoded:
            nonce = os.urandom(12)
            raw_sealed.append(nonce + raw_cipher.encrypt(nonce, value, aad))
        service_type = EncryptedString("user_account.email")
        organisation_type = EncryptedString("contact.email")
        for organisation_id in range(1, ORGANISATIONS + 1):
            with crypto.organisation_scope(organisation_id):
                organisation_type.process_bind_param("warm-up", None)

        def raw_encrypt() -> None:
            encrypt = raw_cipher.encrypt
            urandom = os.urandom
            for value in encoded:
                nonce = urandom(12)
                nonce + encrypt(nonce, value, aad)

        def raw_decrypt() -> None:
            decrypt = raw_cipher.decrypt
            for sealed in raw_sealed:
                decrypt(sealed[:12], sealed[12:], aad)

        def service_encrypt() -> list[bytes]:
            bind = service_type.process_bind_param
            return [bind(value, None) for value in values]

        def organisation_encrypt() -> list[bytes]:
            bind = organisation_type.process_bind_param
            out = []
            per_organisation = max(1, len(values) // ORGANISATIONS)
            for start in range(0, len(values), per_organisation):
                with crypto.organisation_scope(start // per_organisation % ORGANISATIONS + 1):
                    out += [bind(value, None) for value in values[start : start + per_organisation]]
            return out

        service_sealed = service_encrypt()
        organisation_sealed = organisation_encrypt()

        def service_decrypt() -> None:
            result = service_type.process_result_value
            for sealed in service_sealed:
                result(sealed, None)

        def organisation_decrypt() -> None:
            result = organisation_type.process_result_value
            for sealed in organisation_sealed:
                result(sealed, None)

        timings = {
            "raw AESGCM encrypt": best(args.repeat, raw_encrypt),
            "service key encrypt": best(args.repeat, service_encrypt),
            "data key encrypt": best(args.repeat, organisation_encrypt),
            "raw AESGCM decrypt": best(args.repeat, raw_decrypt),
            "service key decrypt": best(args.repeat, service_decrypt),
            "data key decrypt": best(args.repeat, organisation_decrypt),
        }

    print(
        f"{args.values} values of {len(encoded[0])}-{len(encoded[-1])} bytes, best of {args.repeat}"
    )
    for name, seconds in timings.items():
        print(f"  {name:<22} {args.values / seconds:>12,.0f} values/s")
    ratios = {
        "service key encrypt": timings["raw AESGCM encrypt"] / timings["service key encrypt"],
        "data key encrypt": timings["raw AESGCM encrypt"] / timings["data key encrypt"],
        "service key decrypt": timings["raw AESGCM decrypt"] / timings["service key decrypt"],
        "data key decrypt": timings["raw AESGCM decrypt"] / timings["data key decrypt"],
    }
    for name, ratio in ratios.items():
        verdict = "ok" if ratio >= TARGET else "BELOW TARGET"
        print(f"  {name:<22} {ratio:.2f}x raw (target {TARGET}x) {verdict}")


if __name__ == "__main__":
    main()
