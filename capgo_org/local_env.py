"""Write or update this checkout's `.env` for `make run`: `python -m capgo_org.local_env --port 8000`.

The first run generates a SECRET_KEY; later runs keep it (sessions and password-reset links
stay valid) and point SITE_URL at the port being served. Lines added by hand are kept. This
module imports nothing from Django: the settings read the file it writes.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

ENV_PATH = Path(__file__).resolve().parent.parent / ".env"
HEADER = "# Written by `make run` for this checkout (git-ignored). Real environment variables win over it."


def local_settings(port: int) -> dict[str, str]:
    """What the embedded default needs: production settings, on this machine, over plain HTTP."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"http://127.0.0.1:{port}",
        # Nothing terminates TLS in front of make run: plain HTTP is the explicit choice.
        "HTTPS": "false",
    }


def write(path: Path, port: int) -> None:
    """Add the missing settings to `path`, keep the others, and set SITE_URL to `port`."""
    lines = path.read_text().splitlines() if path.exists() else [HEADER]
    present = {line.split("=", 1)[0].strip() for line in lines if "=" in line and not line.lstrip().startswith("#")}
    wanted = local_settings(port)
    lines = [f"SITE_URL={wanted['SITE_URL']}" if line.startswith("SITE_URL=") else line for line in lines]
    lines += [f"{name}={value}" for name, value in wanted.items() if name not in present]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds the secret key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--path", type=Path, default=ENV_PATH)
    args = parser.parse_args()
    write(args.path, args.port)


if __name__ == "__main__":
    main()
