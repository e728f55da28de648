#!/usr/bin/env bash
# Installs (or updates) the media node(s) of the Sora-compatible SFU on a Debian VM, with coturn
# beside them (--nodes N: one node process per core, each its own cluster node): the steps of infra/node/README.md in one idempotent command. Run it again with the
# same flags and it changes nothing but the application code (when that changed).
#
# --dry-run prints the plan and changes nothing (no root needed). Every line of the plan is:
#   + COMMAND                       a command that runs
#   ? COMMAND   (if CONDITION)      runs only when CONDITION holds at install time
#   = WHAT                          already in place: nothing to do
#   # NOTE                          information
#   --- write PATH (mode M, owner U:G) ... --- end PATH   a file and its full content
# Secrets (node secret, TURN secret) are never printed: they show as <redacted>.
#
# The script opens no firewall port itself; it prints the ones to open (see README.md).
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # "&" in a replacement value stays a "&" (bash 5.2)

readonly PROG=install.sh
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
CHECKOUT=$(cd "$SCRIPT_DIR/../.." && pwd)
readonly CHECKOUT
readonly CONFIG_DIR=/etc/sora-sfu
readonly UNIT_DIR=/etc/systemd/system
readonly SERVICE_USER=sora-sfu
readonly NODE_MIN_MAJOR=20 NODE_MIN_MINOR=19
readonly TURN_PORT=3478 TURN_MIN_PORT=49160 TURN_MAX_PORT=49999
readonly REDACTED='<redacted>'

usage() {
  cat <<EOF
Usage: $PROG [options]

Installs a media node (and coturn) on this Debian VM: Debian packages nodejs, npm and coturn
where missing, the system user $SERVICE_USER, the application (npm ci --omit=dev), the config
$CONFIG_DIR/node.json, the secrets file $CONFIG_DIR/node.env (mode 0600), coturn's
$CONFIG_DIR/turnserver.conf and the systemd units sora-sfu-node / sora-sfu-coturn.

Node:
  --edge-url URL            the edge's node link, ws:// or wss://…/node (default: none, standalone)
  --node-secret SECRET      the edge's NODE_SECRET (goes to node.env only)
  --node-secret-file FILE   read it from FILE instead (keeps it out of the process list)
                            default: the NODE_SECRET of an earlier install, else none
  --node-name NAME          cluster-wide node name (default: node@PRIVATE_IP)
  --private-ip IPV4         the VM's own address: signaling, ICE and coturn bind it
                            (default: the source address of the default route)
  --public-ip IPV4          the address clients reach (1:1 NAT in most clouds); announced in the
                            node's ICE host candidates (announced_address), the TURN URLs and
                            coturn's relay candidates (default: PRIVATE_IP)
  --port N                  signaling port (default 5000)
  --udp-port N              the one UDP port of all the node's ICE traffic (default 5000);
                            0 = a kernel-picked port per connection instead
  --signaling-url URL       external_signaling_url, what the edge redirects clients to
                            (default ws://PUBLIC_IP:PORT/signaling); with --nodes > 1 it must
                            hold {port} or {n} (e.g. wss://node.example.com:{port}/signaling)
  --nodes N|auto            node processes on this VM, one per core (default 1; auto = nproc):
                            instance n (1..N) is the systemd unit sora-sfu-node@n, config
                            $CONFIG_DIR/node-n.json, name NODE_NAME-n, signaling port PORT+n-1,
                            UDP port UDP_PORT+n-1; each is its own cluster node
  --auth-webhook-url URL, --session-webhook-url URL, --event-webhook-url URL   (http/https)
TURN:
  --turn on|off             coturn beside the node (default on)
  --turn-secret SECRET      coturn static-auth-secret, >= 16 characters [A-Za-z0-9._~+/=-]
  --turn-secret-file FILE   read it from FILE instead
                            default: the secret of an earlier install, else a generated one
  --turn-realm REALM        (default sora-compatible-sfu)
  --turn-policy all|relay   relay = clients use TURN only, like Sora (default all)
Application:
  --install-dir DIR         where the application goes (default /opt/sora-sfu)
  --source DIR              install from this local checkout (default: the checkout holding
                            this script, $CHECKOUT)
  --ref REF                 install git ref REF instead (a branch, tag or commit) ...
  --repo URL                ... of this repository (default: the checkout holding this script)
Other:
  --dry-run                 print every action (commands, files with content) and change nothing
  -h, --help                this text

Bad flags exit with status 2; a failed step exits with status 1.
EOF
}

die_usage() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  printf "Run '%s --help' for the flags.\n" "$PROG" >&2
  exit 2
}
die() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  exit 1
}

# ---------------------------------------------------------------- flags
edge_url="" node_secret="" node_secret_file="" node_name="" private_ip="" public_ip=""
port=5000 udp_port=5000 nodes=1 signaling_url="" auth_webhook_url="" session_webhook_url="" event_webhook_url=""
turn=on turn_secret="" turn_secret_file="" turn_realm=sora-compatible-sfu turn_policy=all
install_dir=/opt/sora-sfu source_dir="" ref="" repo="" dry_run=0

while [ $# -gt 0 ]; do
  flag=$1
  shift
  value_given=0
  if [[ $flag == --*=* ]]; then
    value=${flag#*=}
    flag=${flag%%=*}
    value_given=1
  fi
  case $flag in
    --dry-run | -h | --help)
      [ $value_given = 0 ] || die_usage "$flag takes no value"
      case $flag in
        --dry-run) dry_run=1 ;;
        *) usage; exit 0 ;;
      esac
      continue
      ;;
    --edge-url | --node-secret | --node-secret-file | --node-name | --private-ip | --public-ip | --port | --udp-port | --nodes | \
      --signaling-url | --auth-webhook-url | --session-webhook-url | --event-webhook-url | --turn | \
      --turn-secret | --turn-secret-file | --turn-realm | --turn-policy | --install-dir | --source | --ref | --repo)
      if [ $value_given = 0 ]; then
        if [ $# -eq 0 ] || [[ $1 == --* ]]; then die_usage "$flag needs a value"; fi
        value=$1
        shift
      fi
      ;;
    *) die_usage "unknown option: $flag" ;;
  esac
  case $flag in
    --edge-url) edge_url=$value ;;
    --node-secret) node_secret=$value ;;
    --node-secret-file) node_secret_file=$value ;;
    --node-name) node_name=$value ;;
    --private-ip) private_ip=$value ;;
    --public-ip) public_ip=$value ;;
    --port) port=$value ;;
    --udp-port) udp_port=$value ;;
    --nodes) nodes=$value ;;
    --signaling-url) signaling_url=$value ;;
    --auth-webhook-url) auth_webhook_url=$value ;;
    --session-webhook-url) session_webhook_url=$value ;;
    --event-webhook-url) event_webhook_url=$value ;;
    --turn) turn=$value ;;
    --turn-secret) turn_secret=$value ;;
    --turn-secret-file) turn_secret_file=$value ;;
    --turn-realm) turn_realm=$value ;;
    --turn-policy) turn_policy=$value ;;
    --install-dir) install_dir=$value ;;
    --source) source_dir=$value ;;
    --ref) ref=$value ;;
    --repo) repo=$value ;;
  esac
done

# Tests point the state checks (packages, user, existing files) at a fake root; the commands
# printed still name the real paths. Never used for a real install.
ROOT=${SORA_SFU_INSTALL_ROOT:-}
[ -z "$ROOT" ] || [ $dry_run = 1 ] || die_usage "SORA_SFU_INSTALL_ROOT is only for --dry-run"

# ---------------------------------------------------------------- validation (before any action)
is_ipv4() {
  local IFS=. octet
  [[ $1 =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || return 1
  for octet in $1; do ((10#$octet <= 255)) || return 1; done
}
# Values go unquoted into JSON, coturn's config and the env file: allow no quotes, spaces or backslashes.
readonly URL_REST='[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/:@!()*+,;=?&#-]*)?'
is_url() { [[ $2 =~ ^($1)://${URL_REST}$ ]]; }
readonly SECRET_RE='^[A-Za-z0-9._~+/=-]{16,512}$'
read_secret_file() { # FLAG FILE
  [ -r "$2" ] || die_usage "$1: cannot read $2"
  local s
  s=$(head -n 1 -- "$2")
  s=${s%$'\r'}
  printf '%s' "$s"
}

if [ -n "$node_secret_file" ]; then
  [ -z "$node_secret" ] || die_usage "--node-secret and --node-secret-file exclude each other"
  node_secret=$(read_secret_file --node-secret-file "$node_secret_file")
fi
if [ -n "$turn_secret_file" ]; then
  [ -z "$turn_secret" ] || die_usage "--turn-secret and --turn-secret-file exclude each other"
  turn_secret=$(read_secret_file --turn-secret-file "$turn_secret_file")
fi
[ -z "$edge_url" ] || is_url 'wss?' "$edge_url" || die_usage "--edge-url must be a ws:// or wss:// URL, got '$edge_url'"
[ -z "$node_secret" ] || [[ $node_secret =~ $SECRET_RE ]] ||
  die_usage "--node-secret must be 16-512 characters of [A-Za-z0-9._~+/=-]"
case $turn in on | off) ;; *) die_usage "--turn must be on or off, got '$turn'" ;; esac
case $turn_policy in all | relay) ;; *) die_usage "--turn-policy must be all or relay, got '$turn_policy'" ;; esac
if [ "$turn" = off ]; then
  [ -z "$turn_secret" ] || die_usage "--turn-secret needs --turn on"
  [ "$turn_policy" = all ] || die_usage "--turn-policy needs --turn on"
fi
[ -z "$turn_secret" ] || [[ $turn_secret =~ $SECRET_RE ]] ||
  die_usage "--turn-secret must be 16-512 characters of [A-Za-z0-9._~+/=-]"
[[ $turn_realm =~ ^[A-Za-z0-9._-]{1,128}$ ]] || die_usage "--turn-realm must be 1-128 characters of [A-Za-z0-9._-]"
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then die_usage "--port must be 1-65535, got '$port'"; fi
port=$((10#$port))
if ! [[ $udp_port =~ ^[0-9]{1,5}$ ]] || ((10#$udp_port > 65535)); then die_usage "--udp-port must be 0-65535, got '$udp_port'"; fi
udp_port=$((10#$udp_port))
if [ -z "$private_ip" ]; then
  # The address the kernel would send from towards the outside (TEST-NET-1 is never routed locally).
  private_ip=$(ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' || true)
  [ -n "$private_ip" ] || die_usage "could not find this VM's address: pass --private-ip"
fi
is_ipv4 "$private_ip" || die_usage "--private-ip must be an IPv4 address, got '$private_ip'"
public_ip=${public_ip:-$private_ip}
is_ipv4 "$public_ip" || die_usage "--public-ip must be an IPv4 address, got '$public_ip'"
node_name=${node_name:-node@$private_ip}
[[ $node_name =~ ^[A-Za-z0-9._@:-]{1,255}$ ]] || die_usage "--node-name must be 1-255 characters of [A-Za-z0-9._@:-]"
if [ "$nodes" = auto ]; then nodes=$(nproc 2>/dev/null || echo 1); fi
if ! [[ $nodes =~ ^[0-9]{1,3}$ ]] || ((10#$nodes < 1 || 10#$nodes > 256)); then die_usage "--nodes must be 1-256 or auto, got '$nodes'"; fi
nodes=$((10#$nodes))
((port + nodes - 1 <= 65535)) || die_usage "--port $port + --nodes $nodes runs past port 65535"
((udp_port == 0 || udp_port + nodes - 1 <= 65535)) || die_usage "--udp-port $udp_port + --nodes $nodes runs past port 65535"
if [ "$nodes" -gt 1 ]; then
  signaling_url=${signaling_url:-ws://$public_ip:\{port\}/signaling}
  [[ $signaling_url == *"{port}"* || $signaling_url == *"{n}"* ]] ||
    die_usage "--signaling-url must hold {port} or {n} with --nodes > 1 (each node has its own URL), got '$signaling_url'"
  sample_url=${signaling_url//\{port\}/$port}
  is_url 'wss?' "${sample_url//\{n\}/1}" || die_usage "--signaling-url must be a ws:// or wss:// URL, got '$signaling_url'"
else
  signaling_url=${signaling_url:-ws://$public_ip:$port/signaling}
  is_url 'wss?' "$signaling_url" || die_usage "--signaling-url must be a ws:// or wss:// URL, got '$signaling_url'"
fi
for pair in "--auth-webhook-url=$auth_webhook_url" "--session-webhook-url=$session_webhook_url" "--event-webhook-url=$event_webhook_url"; do
  [ -z "${pair#*=}" ] || is_url 'https?' "${pair#*=}" || die_usage "${pair%%=*} must be an http:// or https:// URL, got '${pair#*=}'"
done
[[ $install_dir =~ ^/[A-Za-z0-9._/-]+$ ]] || die_usage "--install-dir must be an absolute path of [A-Za-z0-9._/-], got '$install_dir'"
install_dir=${install_dir%/}
[[ /$install_dir/ != */../* && /$install_dir/ != */./* && $install_dir != *//* ]] ||
  die_usage "--install-dir must be a plain path (no '.', '..' or '//'), got '$install_dir'"
case $install_dir in "" | /etc | /etc/* | /usr | /usr/local | /usr/lib | /var | /var/lib | /opt | /srv | /tmp | /run | /mnt | /media | \
  /root | /home | /bin | /sbin | /lib | /lib64 | /boot | /proc | /sys | /dev)
  die_usage "--install-dir $install_dir: choose a directory of its own, e.g. /opt/sora-sfu" ;;
esac
if [ -n "$ref" ]; then
  [ -z "$source_dir" ] || die_usage "--source and --ref exclude each other"
  [[ $ref =~ ^[A-Za-z0-9._/@^~-]{1,200}$ && $ref != -* ]] || die_usage "--ref must be a branch, tag or commit name, got '$ref'"
  repo=${repo:-$CHECKOUT}
  [[ $repo != -* && $repo =~ ^[^[:space:]]+$ ]] || die_usage "--repo must be a repository URL or path, got '$repo'"
else
  [ -z "$repo" ] || die_usage "--repo needs --ref"
  source_dir=${source_dir:-$CHECKOUT}
  [ -d "$source_dir" ] || die_usage "--source $source_dir: no such directory"
  source_dir=$(cd "$source_dir" && pwd)
  if [ ! -f "$source_dir/package.json" ] || [ ! -f "$source_dir/media-node/src/main.ts" ]; then
    die_usage "--source $source_dir: not a checkout of this project (no package.json / media-node/src/main.ts)"
  fi
  [ "$source_dir" != "$install_dir" ] ||
    die_usage "--source must not be --install-dir ($install_dir is replaced by the install): clone elsewhere"
fi
[ $dry_run = 1 ] || [ "$(id -u)" = 0 ] || die "must run as root (or try --dry-run)"

# ---------------------------------------------------------------- actions
changed_units=0 changed_node=0 changed_coturn=0

q() { # the command line of its arguments, shell-quoted
  local out="" a
  for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done
  printf '%s' "$out"
}
run() { # run a command (printed first)
  printf '+ %s\n' "$(q "$@")"
  [ $dry_run = 1 ] || "$@"
}
run_sh() { # run a shell pipeline given as one string (printed first)
  printf '+ %s\n' "$1"
  [ $dry_run = 1 ] || bash -c "set -euo pipefail; $1"
}
note() { printf '# %s\n' "$*"; }
have() { printf '= %s\n' "$*"; }

# Writes PATH with CONTENT, MODE and owner unless it already holds exactly that; sets $wrote.
# Secrets given after CONTENT are shown as <redacted>.
put_file() { # PATH MODE OWNER:GROUP CONTENT [SECRET...]
  local path=$1 mode=$2 owner=$3 content=$4 shown secret tmp
  shift 4
  wrote=0
  if [ -f "$ROOT$path" ] && [ -r "$ROOT$path" ] && printf '%s\n' "$content" | cmp -s - "$ROOT$path"; then
    have "$path unchanged (mode $mode, owner $owner)"
    [ $dry_run = 1 ] || { chown "$owner" "$path" && chmod "$mode" "$path"; }
    return 0
  fi
  wrote=1
  shown=$content
  for secret in "$@"; do [ -z "$secret" ] || shown=${shown//"$secret"/$REDACTED}; done
  printf -- '--- write %s (mode %s, owner %s)\n%s\n--- end %s\n' "$path" "$mode" "$owner" "$shown" "$path"
  [ $dry_run = 1 ] && return 0
  # Written beside the target with its final mode and owner, then renamed: never a moment where
  # a secret is readable by others or a service sees half a file.
  tmp=$(mktemp "$path.XXXXXX")
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  printf '%s\n' "$content" >"$tmp"
  mv -f "$tmp" "$path"
}

remove_file() { # PATH: gone after this (idempotent)
  if [ -e "$ROOT$1" ]; then run rm -f "$1"; else have "$1 absent"; fi
}

node_version_ok() { # [NODE_BINARY]
  local v major minor
  [ -x "$1" ] || return 1
  v=$("$1" --version 2>/dev/null) || return 1
  [[ $v =~ ^v([0-9]+)\.([0-9]+)\. ]] || return 1
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  ((major > NODE_MIN_MAJOR || (major == NODE_MIN_MAJOR && minor >= NODE_MIN_MINOR)))
}

json_str() { # a JSON string (values are validated above; escape anyway)
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# Value of KEY= in FILE under ROOT ("" when absent or unreadable).
existing_value() { # FILE KEY
  [ -r "$ROOT$1" ] || return 0
  sed -n "s/^$2=//p" "$ROOT$1" | head -n 1
}

if [ "$nodes" = 1 ]; then
  note "media node $node_name: signaling on $private_ip:$port, announced as $signaling_url"
else
  note "$nodes media nodes $node_name-1..$nodes: signaling on $private_ip:$port-$((port + nodes - 1)), announced as $signaling_url"
fi
note "edge: ${edge_url:-none (standalone)}; TURN: $turn; install dir: $install_dir"
[ $dry_run = 0 ] || note "dry run: nothing is changed"

# ---- 1. Debian packages (only what is missing)
packages=()
if node_version_ok "$ROOT/usr/bin/node"; then
  have "node $("$ROOT/usr/bin/node" --version) at /usr/bin/node (>= $NODE_MIN_MAJOR.$NODE_MIN_MINOR)"
else
  packages+=(nodejs)
fi
if [ -x "$ROOT/usr/bin/npm" ]; then have "npm at /usr/bin/npm"; else packages+=(npm); fi
if [ "$turn" = on ]; then
  if [ -x "$ROOT/usr/bin/turnserver" ]; then have "coturn at /usr/bin/turnserver"; else packages+=(coturn); fi
fi
if [ -n "$ref" ]; then
  if [ -x "$ROOT/usr/bin/git" ]; then have "git at /usr/bin/git"; else packages+=(git ca-certificates); fi
fi
if [ ${#packages[@]} -gt 0 ]; then
  [ $dry_run = 1 ] || [ -x /usr/bin/apt-get ] || die "no apt-get: this script installs on Debian (12 or later)"
  run apt-get update
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
fi
if [ $dry_run = 1 ]; then
  [[ " ${packages[*]} " != *" nodejs "* ]] || note "then: /usr/bin/node --version must be >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR (Debian 13's nodejs is; Debian 12's is 18: install Node 20 first, see README.md)"
elif ! node_version_ok /usr/bin/node; then
  die "/usr/bin/node is $(/usr/bin/node --version 2>/dev/null || echo missing); the node needs >= $NODE_MIN_MAJOR.$NODE_MIN_MINOR (Debian 13's nodejs; on Debian 12 install Node 20 first, see infra/node/README.md)"
fi
if [ "$turn" = on ]; then
  # Debian's own coturn.service would start turnserver with /etc/turnserver.conf: ours replaces it.
  if [[ " ${packages[*]} " == *" coturn "* ]] || [ -e "$ROOT/lib/systemd/system/coturn.service" ] ||
    [ -e "$ROOT/usr/lib/systemd/system/coturn.service" ]; then
    run systemctl disable --now coturn.service
  else
    have "no Debian coturn.service to disable"
  fi
fi

# ---- 2. system user (owns nothing but the node's state directory; the code stays root's)
if grep -q "^$SERVICE_USER:" "$ROOT/etc/passwd" 2>/dev/null; then
  have "user $SERVICE_USER exists"
else
  run useradd --system --user-group --home-dir "$install_dir" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi

# ---- 3. the application: staged beside the install dir, swapped in only when it changed
stage=$install_dir.new
run rm -rf "$stage"
if [ -n "$ref" ]; then
  # safe.directory: a local repository owned by another user than root is still cloned.
  run git -c 'safe.directory=*' clone --quiet --no-checkout "$repo" "$stage"
  run git -c 'safe.directory=*' -C "$stage" checkout --quiet --detach "$ref"
  run_sh "git -C $(q "$stage") rev-parse HEAD > $(q "$stage/.install-revision") && rm -rf $(q "$stage/.git")"
else
  run mkdir -p "$stage"
  run_sh "tar -C $(q "$source_dir") --exclude=./node_modules --exclude=./.git --exclude=./.wrangler --exclude=./crash-logs -cf - . | tar -C $(q "$stage") --no-same-owner -xf -"
fi
app_differs() { ! diff -rq --exclude=node_modules "$stage" "$install_dir" >/dev/null 2>&1; }
if [ $dry_run = 1 ]; then
  printf '? %s   (if %s)\n' "$(q cd "$stage") && npm ci --omit=dev --no-audit --no-fund" "the staged tree differs from $install_dir, else the stage is removed"
  printf '? %s   (if changed)\n' "$(q chmod -R u=rwX,go=rX "$stage")"
  printf '? %s   (if changed)\n' "$(q rm -rf "$install_dir.old") && { [ ! -e $(q "$install_dir") ] || $(q mv "$install_dir" "$install_dir.old"); } && $(q mv "$stage" "$install_dir") && $(q rm -rf "$install_dir.old")"
  changed_node=unknown
elif app_differs; then
  run_sh "cd $(q "$stage") && npm ci --omit=dev --no-audit --no-fund"
  run chmod -R u=rwX,go=rX "$stage"
  run rm -rf "$install_dir.old"
  [ ! -e "$install_dir" ] || run mv "$install_dir" "$install_dir.old"
  run mv "$stage" "$install_dir"
  run rm -rf "$install_dir.old"
  changed_node=1
else
  have "application in $install_dir unchanged"
  run rm -rf "$stage"
fi

# ---- 4. secrets: given, else kept from an earlier install, else generated (TURN) / none (node)
if [ -z "$node_secret" ]; then
  node_secret=$(existing_value "$CONFIG_DIR/node.env" NODE_SECRET)
  if [ -n "$node_secret" ]; then
    note "node secret: kept from $CONFIG_DIR/node.env"
  elif [ -e "$ROOT$CONFIG_DIR/node.env" ] && [ ! -r "$ROOT$CONFIG_DIR/node.env" ]; then
    note "node secret: $CONFIG_DIR/node.env is unreadable without root; a real run keeps its NODE_SECRET"
  elif [ -n "$edge_url" ]; then
    note "no node secret: the edge accepts this node's link only while its own NODE_SECRET is unset"
  fi
fi
if [ "$turn" = on ] && [ -z "$turn_secret" ]; then
  turn_secret=$(existing_value "$CONFIG_DIR/turnserver.conf" static-auth-secret)
  if [ -n "$turn_secret" ]; then
    note "TURN secret: kept from $CONFIG_DIR/turnserver.conf"
  else
    [ ! -e "$ROOT$CONFIG_DIR/turnserver.conf" ] || [ -r "$ROOT$CONFIG_DIR/turnserver.conf" ] ||
      note "TURN secret: $CONFIG_DIR/turnserver.conf is unreadable without root; a real run keeps its secret"
    turn_secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    note "TURN secret: generated (64 hex characters)"
  fi
fi

# ---- 5. configuration
# 0751: coturn (user turnserver) opens its own file by name; node.json and node.env stay closed to it.
run install -d -m 0751 -o root -g "$SERVICE_USER" "$CONFIG_DIR"

# The config of one node process: node_json_of NAME PORT UDP_PORT SIGNALING_URL
node_json_of() {
  local name=$1 port=$2 udp_port=$3 signaling_url=$4 json i out
  json=(
    "  \"node_name\": $(json_str "$name")"
    "  \"host\": $(json_str "$private_ip")"
    "  \"port\": $port"
    "  \"external_signaling_url\": $(json_str "$signaling_url")"
    "  \"ice_addresses\": [$(json_str "$private_ip")]"
    "  \"default_video_codec\": \"VP9\""
    "  \"crash_log_dir\": \"/var/lib/sora-sfu/crash-logs\""
  )
  # ICE: one UDP port bound on the private address; host candidates carry the public one.
  [ "$udp_port" = 0 ] || json+=("  \"udp_port\": $udp_port")
  [ "$public_ip" = "$private_ip" ] || json+=("  \"announced_address\": $(json_str "$public_ip")")
  [ -z "$edge_url" ] || json+=("  \"edge_url\": $(json_str "$edge_url")")
  json+=("  \"auto_join\": true")
  [ -z "$auth_webhook_url" ] || json+=("  \"auth_webhook_url\": $(json_str "$auth_webhook_url")")
  [ -z "$session_webhook_url" ] || json+=("  \"session_webhook_url\": $(json_str "$session_webhook_url")")
  [ -z "$event_webhook_url" ] || json+=("  \"event_webhook_url\": $(json_str "$event_webhook_url")")
  if [ "$turn" = on ]; then
    # spawn false: systemd runs coturn (sora-sfu-coturn.service); the nodes only issue credentials.
    json+=("  \"turn\": {
    \"enabled\": true,
    \"spawn\": false,
    \"listen_ip\": $(json_str "$private_ip"),
    \"listen_port\": $TURN_PORT,
    \"external_ip\": $(json_str "$public_ip"),
    \"relay_ip\": $(json_str "$private_ip"),
    \"realm\": $(json_str "$turn_realm"),
    \"shared_secret\": $(json_str "$turn_secret"),
    \"ttl_sec\": 86400,
    \"udp\": true,
    \"tcp\": true,
    \"min_port\": $TURN_MIN_PORT,
    \"max_port\": $TURN_MAX_PORT,
    \"ice_transport_policy\": $(json_str "$turn_policy")
  }")
  fi
  out="{"
  for i in "${!json[@]}"; do out+=$'\n'"${json[$i]}"; [ "$i" = $((${#json[@]} - 1)) ] || out+=","; done
  printf '%s\n}' "$out"
}

# The systemd units of the node(s): one plain unit for one node; a template (sora-sfu-node@.service,
# instance n reads node-n.json) for several, one process per core. Switching between the two
# removes the other's units and configs; instances past N from an earlier install are removed.
if [ "$nodes" = 1 ]; then
  node_units=(sora-sfu-node.service)
  node_json=$(node_json_of "$node_name" "$port" "$udp_port" "$signaling_url")
  put_file "$CONFIG_DIR/node.json" 0640 "root:$SERVICE_USER" "$node_json" "$turn_secret"
  [ $wrote = 0 ] || changed_node=1
else
  node_units=()
  for ((n = 1; n <= nodes; n++)); do
    node_units+=("sora-sfu-node@$n.service")
    url=${signaling_url//\{port\}/$((port + n - 1))}
    url=${url//\{n\}/$n}
    node_json=$(node_json_of "$node_name-$n" $((port + n - 1)) $((udp_port == 0 ? 0 : udp_port + n - 1)) "$url")
    put_file "$CONFIG_DIR/node-$n.json" 0640 "root:$SERVICE_USER" "$node_json" "$turn_secret"
    [ $wrote = 0 ] || changed_node=1
  done
fi
node_env="# Secrets of the media node, read by systemd (sora-sfu-node.service EnvironmentFile); root only."
[ -z "$node_secret" ] || node_env+=$'\n'"NODE_SECRET=$node_secret"
node_env+=$'\n'"LOG_LEVEL=info"
put_file "$CONFIG_DIR/node.env" 0600 root:root "$node_env" "$node_secret"
[ $wrote = 0 ] || changed_node=1

if [ "$nodes" = 1 ]; then unit_file=sora-sfu-node.service; else unit_file=sora-sfu-node@.service; fi
node_unit=$(<"$SCRIPT_DIR/$unit_file")
node_unit=${node_unit//\/opt\/sora-sfu/$install_dir}
if [ "$turn" = off ]; then
  # No coturn on this VM: the node's offers carry iceServers: [] (no turn section in node.json).
  node_unit=${node_unit// sora-sfu-coturn.service/}
  node_unit=$(printf '%s\n' "$node_unit" | grep -v -e '^Requires=' -e 'TURN credentials only if coturn')
fi
put_file "$UNIT_DIR/$unit_file" 0644 root:root "$node_unit"
[ $wrote = 0 ] || { changed_units=1 changed_node=1; }

if [ "$turn" = on ]; then
  turn_conf=$(<"$SCRIPT_DIR/turnserver.conf.template")
  turn_conf="# Written by infra/node/install.sh from turnserver.conf.template: re-run it to change this file.
${turn_conf#*$'\n'}"
  if [ "$public_ip" = "$private_ip" ]; then
    # No NAT: coturn's relay candidates already carry the address clients reach.
    turn_conf=$(printf '%s\n' "$turn_conf" | grep -v -e '^external-ip=' -e '^# Behind 1:1 NAT' \
      -e '^allowed-peer-ip=@PUBLIC_IP@' -e '^# The node.s announced ICE address')
  fi
  turn_conf=${turn_conf//@PRIVATE_IP@/$private_ip}
  turn_conf=${turn_conf//@PUBLIC_IP@/$public_ip}
  turn_conf=${turn_conf//@REALM@/$turn_realm}
  turn_conf=${turn_conf//@SHARED_SECRET@/$turn_secret}
  put_file "$CONFIG_DIR/turnserver.conf" 0640 root:turnserver "$turn_conf" "$turn_secret"
  [ $wrote = 0 ] || changed_coturn=1
  put_file "$UNIT_DIR/sora-sfu-coturn.service" 0644 root:root "$(<"$SCRIPT_DIR/sora-sfu-coturn.service")"
  [ $wrote = 0 ] || changed_units=1 changed_coturn=1
fi

# ---- 6. systemd
# Units and configs of another shape than this run's (one node <-> several, or more instances
# before): disabled and removed; only what exists is named (systemctl fails on unknown units).
stale_units=() stale_files=()
stale() { # UNIT FILE...: UNIT is stale when one of FILEs exists
  local unit=$1 f found=0
  shift
  for f in "$@"; do [ ! -e "$ROOT$f" ] || { stale_files+=("$f"); found=1; }; done
  [ $found = 0 ] || [ -z "$unit" ] || stale_units+=("$unit")
}
for f in "$ROOT$CONFIG_DIR"/node-*.json; do
  [ -e "$f" ] || continue
  n=${f##*/node-}
  n=${n%.json}
  if [ "$nodes" = 1 ] || ! [[ $n =~ ^[0-9]+$ ]] || ((10#$n > nodes)); then stale "sora-sfu-node@$n.service" "$CONFIG_DIR/node-$n.json"; fi
done
if [ "$nodes" = 1 ]; then
  stale "" "$UNIT_DIR/sora-sfu-node@.service"
else
  stale sora-sfu-node.service "$UNIT_DIR/sora-sfu-node.service" "$CONFIG_DIR/node.json"
fi
[ ${#stale_units[@]} = 0 ] || run systemctl disable --now "${stale_units[@]}"
for f in "${stale_files[@]}"; do
  run rm -f "$f"
  changed_units=1
done
if [ "$turn" = off ] && [ -e "$ROOT$UNIT_DIR/sora-sfu-coturn.service" ]; then
  run systemctl disable --now sora-sfu-coturn.service
  changed_units=1
fi
if [ "$turn" = off ]; then
  remove_file "$UNIT_DIR/sora-sfu-coturn.service"
  remove_file "$CONFIG_DIR/turnserver.conf"
fi
if [ $changed_units = 1 ]; then run systemctl daemon-reload; else have "systemd units unchanged: no daemon-reload"; fi
if [ "$turn" = on ]; then
  run systemctl enable sora-sfu-coturn.service "${node_units[@]}"
  if [ $changed_coturn = 1 ]; then run systemctl restart sora-sfu-coturn.service; else run systemctl start sora-sfu-coturn.service; fi
else
  run systemctl enable "${node_units[@]}"
fi
case $changed_node in
  1) run systemctl restart "${node_units[@]}" ;;
  0) run systemctl start "${node_units[@]}" ;;
  *) printf '? %s   (if the application, the node config, node.env or the unit changed; else: systemctl start)\n' "$(q systemctl restart "${node_units[@]}")" ;;
esac

# ---- 7. what the operator opens (this script opens nothing)
note "firewall, inbound (this script opens nothing; see infra/node/README.md):"
last_port=$((port + nodes - 1)) last_udp=$((udp_port == 0 ? 0 : udp_port + nodes - 1))
if [ "$nodes" = 1 ]; then ports=$port udp_ports=$udp_port; else ports=$port-$last_port udp_ports=$udp_port-$last_udp; fi
note "  tcp $ports from your TLS proxy (or clients): signaling WebSocket /signaling"
if [ "$turn" = on ]; then
  note "  udp+tcp $TURN_PORT from clients: coturn"
  note "  udp $TURN_MIN_PORT-$TURN_MAX_PORT from the node only (its own public address behind 1:1 NAT): coturn relay ports"
fi
if [ "$udp_port" != 0 ]; then
  if [ "$turn_policy" = relay ]; then
    note "  udp $udp_ports only from coturn on $private_ip: the node's ICE port (clients use TURN only)"
  else
    note "  udp $udp_ports from clients: the node's ICE port (every connection, announced as $public_ip)"
  fi
elif [ "$turn_policy" = relay ]; then
  note "  the node's ICE ports (udp, the kernel's ephemeral range) only from coturn on $private_ip"
else
  ephemeral=32768-60999 # Linux's default net.ipv4.ip_local_port_range
  if [ -r "$ROOT/proc/sys/net/ipv4/ip_local_port_range" ]; then
    read -r low high <"$ROOT/proc/sys/net/ipv4/ip_local_port_range" && ephemeral=$low-$high
  fi
  note "  udp $ephemeral from clients: the node's ICE host candidates on $private_ip (werift binds an ephemeral port per connection)"
fi
if [ "$nodes" = 1 ]; then
  note "check: systemctl status sora-sfu-node; curl -s http://$private_ip:$port/health"
else
  note "check: systemctl status 'sora-sfu-node@*'; curl -s http://$private_ip:$port/health (… :$last_port)"
  note "  relay between nodes: nodes of one channel reach each other's signaling port (/relay) and ICE UDP port on $private_ip"
fi
