#!/bin/sh
# The container's entry point: writes a starter config on the first start, then runs the
# agent as PUID:PGID (default 1000:1000, the first user on most NAS systems) so the files
# it writes in /photos and /data belong to you, not to root. Started as non-root already
# (`user:` in compose), it runs the agent as that user.
set -eu

config="${SHORTPIXEL_AGENT_CONFIG:-/config/config.toml}"
data="${SHORTPIXEL_AGENT_DATA:-/data}"
starter="${SHORTPIXEL_AGENT_STARTER:-/usr/share/shortpixel-agent/config.toml}"
uid="${PUID:-1000}"
gid="${PGID:-1000}"

if [ ! -e "$config" ]; then
    cp "$starter" "$config"
    echo "wrote a starter config to $config (in your config volume): check the folder settings, then restart" >&2
fi

# The dashboard listens on the container's network, so it needs a token: one is drawn on
# the first start, readable by the agent only. The page asks for it once per browser.
token="$(dirname "$config")/dashboard.token"
if [ ! -e "$token" ]; then
    (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$token")
    echo "wrote the dashboard's token to $token (in your config volume): the page asks for it" >&2
fi

if [ "$(id -u)" = 0 ]; then
    # The ledger and backups must be the agent's own; fix only what is not, so a big
    # backup store is not walked on every start.
    if [ "$(stat -c %u:%g "$data")" != "$uid:$gid" ]; then
        chown -R "$uid:$gid" "$data"
    fi
    chown "$uid:$gid" "$config" "$token"
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- shortpixel-agent "$@"
fi
exec shortpixel-agent "$@"
