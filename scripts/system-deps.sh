#!/usr/bin/env bash
# Installs the Debian packages ferry's build and tests need, when they are missing:
# a C++ toolchain for better-sqlite3 and node-pty, OpenSSH's client and server for the
# interop tests, setpriv (util-linux) for running sessions as the login, /etc/services
# (netbase) for port names, curl for the SOCKS tests, BusyBox for running bin/ scripts with
# Alpine's sh. Only root can install; others are told.
set -euo pipefail
need=()
command -v make >/dev/null 2>&1 || need+=(make)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v getent >/dev/null 2>&1 || need+=(libc-bin)
command -v useradd >/dev/null 2>&1 || need+=(passwd)
[ -f /etc/services ] || need+=(netbase)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "ferry: missing system packages: ${need[*]} (install them with: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "ferry: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
