#!/usr/bin/env bash
# Packages the Lambda function for `sam build` (Makefile target build-SsoFunction).
#
#   infra/deploy/build-function.sh ARTIFACTS_DIR
#
# Writes into ARTIFACTS_DIR exactly:
#   - handler/ (the package, without __pycache__ or *.pyc)
#   - the runtime dependencies locked in requirements.txt (hashes checked), as manylinux wheels for
#     CPython 3.13 on the target architecture.
# boto3/botocore/s3transfer are never bundled: the Lambda runtime provides them.
#
# Environment:
#   ARCHITECTURE  arm64 (default) or x86_64. SAM does not tell a makefile build
#                 the function's architecture, so this must match the template's
#                 Architecture parameter (`make build ARCHITECTURE=x86_64` keeps
#                 both in step).
#   PYTHON        interpreter whose pip downloads the wheels (default: the
#                 project's .venv/bin/python if present, else python3).
set -euo pipefail

die() { echo "build-function.sh: $*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" ]] || die "usage: $0 ARTIFACTS_DIR"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
mkdir -p "$1"
dest="$(cd "$1" && pwd -P)"

# Refuse to wipe anything that is not a dedicated build directory.
case "$dest" in
  / | "$root" | "$HOME") die "refusing to use $dest as the artifacts directory" ;;
esac
case "$root/" in
  "$dest"/*) die "refusing to use $dest (an ancestor of the project) as the artifacts directory" ;;
esac

arch="${ARCHITECTURE:-arm64}"
case "$arch" in
  arm64) machine=aarch64 ;;
  x86_64) machine=x86_64 ;;
  *) die "ARCHITECTURE must be arm64 or x86_64, not '$arch'" ;;
esac

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

[[ -f "$root/handler/__init__.py" ]] || die "$root/handler/__init__.py not found"
[[ -f "$root/requirements.txt" ]] || die "$root/requirements.txt not found"

echo "build-function.sh: packaging handler/ for python3.13 $arch into $dest"

# Start from an empty directory so nothing stale is deployed.
find "$dest" -mindepth 1 -delete

# 1. The code: handler/ only.
tar -C "$root" -cf - \
  --exclude='__pycache__' --exclude='*.pyc' --exclude='*.pyo' \
  --exclude='.mypy_cache' --exclude='.pytest_cache' --exclude='.ruff_cache' --exclude='.DS_Store' \
  handler | tar -C "$dest" -xf -

# 2. The dependencies, as binary wheels for the Lambda runtime (Amazon Linux 2023,
#    glibc 2.34), whatever the build machine is.
"$python" -m pip install \
  --quiet --disable-pip-version-check --no-input \
  --require-hashes --no-deps --requirement "$root/requirements.txt" \
  --target "$dest" \
  --implementation cp --python-version 3.13 \
  --platform "manylinux_2_34_$machine" \
  --platform "manylinux_2_28_$machine" \
  --platform "manylinux_2_17_$machine" \
  --platform "manylinux2014_$machine" \
  --only-binary=:all: \
  --no-compile

# 3. Defensive clean-up: the runtime provides the AWS SDK; nothing else is needed
#    beyond what pip wrote (no caches, no console scripts).
rm -rf "$dest"/boto3 "$dest"/boto3-*.dist-info \
       "$dest"/botocore "$dest"/botocore-*.dist-info \
       "$dest"/s3transfer "$dest"/s3transfer-*.dist-info \
       "$dest"/bin
# Powertools' Swagger UI assets (1.7 MB) are read only when a resolver serves
# Swagger UI (enable_swagger); ours never does. Its Python modules stay.
rm -f "$dest"/aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js \
      "$dest"/aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css
find "$dest" -depth -type d -name '__pycache__' -exec rm -rf {} +
find "$dest" -type f \( -name '*.pyc' -o -name '*.pyo' \) -delete

[[ -f "$dest/handler/__init__.py" ]] || die "handler/ was not copied"
echo "build-function.sh: done ($(du -sh "$dest" | cut -f1) unzipped)"
