// The role a fresh cluster starts with, so that the quick start works without writing YAML
// first. Admins can replace it (ferryctl roles create -f ... --force) or remove it.

export const PRESET_ROLES: Record<string, string> = {
  access: `kind: role
version: v1
metadata:
  name: access
  description: Log in with your own logins; forward ports on the node's loopback.
spec:
  options:
    permit_pty: true
    ssh_port_forwarding:
      local:
        enabled: true
      remote:
        enabled: true
        # Loopback only (gateway_ports false); any unprivileged port, or one the node picks.
        permit_listen: ["*:1024-65535", "*:0"]
        gateway_ports: false
        max_forwards: 32
        unix_sockets: true
  allow:
    logins: ["{{internal.logins}}"]
  deny:
    logins: [root]
`,
};
