#!/usr/bin/env bash
# Set up this machine for jupyter-mlcontainer: system packages, a running Docker engine,
# Podman (the second engine the tests build through, with root and without), the project with
# its test extras, and the offline Python base image.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_PACKAGES=(docker.io iptables debootstrap chromium wrk docker-registry podman catatonit uidmap slirp4netns acl)
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/mlcontainer-dockerd.log}

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! $SUDO docker info >/dev/null 2>&1; then
  echo "==> starting the Docker engine (log: $DOCKERD_LOG)"
  $SUDO sh -c "nohup dockerd >'$DOCKERD_LOG' 2>&1 &"
  for _ in $(seq 60); do $SUDO docker info >/dev/null 2>&1 && break; sleep 1; done
  $SUDO docker info >/dev/null 2>&1 || { echo "dockerd did not start; see $DOCKERD_LOG" >&2; tail -20 "$DOCKERD_LOG" >&2; exit 1; }
fi

# Machines that refuse rlimits in containers (some sandboxes and CI runners) need Podman told
# not to set any; `jupyter mlcontainer doctor` says when that is the cause.
CONTAINERS_CONF=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits' "$CONTAINERS_CONF"; then
  echo "==> $CONTAINERS_CONF: default_ulimits = []"
  if grep -qs '^\[containers\]' "$CONTAINERS_CONF"; then
    $SUDO sed -i '/^\[containers\]/a default_ulimits = []' "$CONTAINERS_CONF"
  else
    printf '[containers]\ndefault_ulimits = []\n' | $SUDO tee -a "$CONTAINERS_CONF" >/dev/null
  fi
fi

# Rootless Podman (slirp4netns, pasta) opens /dev/net/tun as the user. Debian's udev makes it
# 0666; machines without udev leave it to root, and then no rootless container starts.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
  echo "==> /dev/net/tun: mode 0666, for rootless Podman"
  $SUDO chmod 0666 /dev/net/tun
fi

# The runtime tests hand a port over between two servers on the host, as instances do inside
# their port holder, which sets this in its own namespace: queued connections then move to the
# listener that stays instead of being reset when the other closes.
if [ "$(sysctl -n net.ipv4.tcp_migrate_req 2>/dev/null || echo 1)" = 0 ]; then
  echo "==> net.ipv4.tcp_migrate_req = 1, for the runtime's handover tests"
  $SUDO sysctl -qw net.ipv4.tcp_migrate_req=1
fi

if [ -n "$SUDO" ] && ! id -nG | grep -qw docker; then
  echo "==> adding $(id -un) to the docker group (log in again for it to apply)"
  $SUDO usermod -aG docker "$(id -un)"
fi

echo "==> installing jupyter_mlcontainer with its test extras"
# A link left by `jupyter labextension develop` would make pip install through it into the checkout.
develop_link="$(python3 -c 'import sys; print(sys.prefix)')/share/jupyter/labextensions/jupyter-mlcontainer"
[ ! -L "$develop_link" ] || rm "$develop_link"
python3 -m pip install -q ".[test]"

# JupyterHub's proxy (tests/browser/test_lab_jupyterhub.py) is a Node program from npm.
if ! command -v configurable-http-proxy >/dev/null 2>&1; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "==> installing npm, for JupyterHub's configurable-http-proxy"
    $SUDO apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm
  fi
  echo "==> installing configurable-http-proxy (npm, global)"
  $SUDO npm install -g configurable-http-proxy
fi

echo "==> offline Python base image"
$SUDO "$(command -v jupyter)" mlcontainer base-image --quiet
