#!/bin/sh
# Runs a command in a fresh network namespace with only loopback, up: servers
# still bind 127.0.0.1, nothing outside sees them, and every firewall rule a
# test adds there vanishes with the namespace. HM_NETNS=1 tells the test it is
# inside one. Where namespaces are not permitted (no root, a locked-down
# container), the command runs as it is with HM_NETNS unset and the test skips.
if unshare -n true 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up && HM_NETNS=1 exec "$@"' netns_run "$@"
fi
echo "netns_run: network namespaces unavailable (unshare -n failed); running without" >&2
exec "$@"
