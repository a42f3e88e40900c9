#!/bin/sh
# make-site-ca.sh - the certificates of one site's MQTT broker, made with openssl only:
#
#   * a private certificate authority for the site (ca.crt, ca.key),
#   * the broker's server certificate, valid for the names and addresses devices use to reach
#     it (server.crt, server.key),
#   * one client certificate per device, CN = the device id (devices/<id>.crt, .key).
#
# Usage:
#   make-site-ca.sh DIR BROKER_NAME[,NAME...] [DEVICE_ID...]
#
# Examples:
#   make-site-ca.sh /root/menwei-ca mqtt.garden-court.lan,192.168.10.5
#   make-site-ca.sh /root/menwei-ca mqtt.garden-court.lan,192.168.10.5 door-b1-lobby carpark-entry-1
#
# BROKER_NAME is what devices put in [sync] broker_host: a device checks that the broker's
# certificate names exactly that host, so list every name or IP address in use, separated by
# commas (an entry of digits and dots, or one with a ':', is taken as an IP address).
#
# Run it again to add devices: files that exist are kept, never overwritten - a new CA would
# invalidate every certificate already on a device. To re-issue one certificate, delete its
# .crt and .key and run the script again.
#
# ca.key signs everything: keep DIR on the provisioning machine (mode 0700), back it up
# offline, and never copy ca.key to the broker or a device. What goes where:
#   broker:  ca.crt, server.crt, server.key   (menwei-sync broker-config --ca --cert --key)
#   device:  ca.crt, devices/<id>.crt, devices/<id>.key   (menwei-sync provision --tls-cert ...)
#
# Environment: CA_DAYS (default 7300) and CERT_DAYS (default 3650) set the validity. An
# expired certificate stops sync until it is replaced, so the defaults are long; note the
# expiry dates (printed at the end) in the site's maintenance calendar.
set -eu

usage() {
    echo "usage: make-site-ca.sh DIR BROKER_NAME[,NAME...] [DEVICE_ID...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
DIR=$1
NAMES=$2
shift 2

CA_DAYS=${CA_DAYS:-7300}
CERT_DAYS=${CERT_DAYS:-3650}

# Ids become MQTT topic levels and broker usernames: the same rule as device.id in the config.
valid_id() {
    printf '%s' "$1" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._-]*$'
}

for device in "$@"; do
    if ! valid_id "$device"; then
        echo "make-site-ca.sh: device id '$device' may only hold letters, digits, '.', '_' and '-'" >&2
        exit 2
    fi
done

# subjectAltName from the comma-separated list: IP: for addresses, DNS: for names.
SAN=""
FIRST_NAME=""
OLD_IFS=$IFS
IFS=,
for name in $NAMES; do
    [ -n "$name" ] || continue
    [ -n "$FIRST_NAME" ] || FIRST_NAME=$name
    case $name in
        *:*) entry="IP:$name" ;;         # IPv6 address
        *[!0-9.]*) entry="DNS:$name" ;;  # anything but digits and dots: a host name
        *) entry="IP:$name" ;;           # IPv4 address
    esac
    SAN="${SAN:+$SAN,}$entry"
done
IFS=$OLD_IFS
if [ -z "$SAN" ]; then
    echo "make-site-ca.sh: no broker name given" >&2
    usage
fi

# Private keys are created readable by their owner only.
umask 077
mkdir -p "$DIR/devices"
chmod 0700 "$DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM

# One small openssl config per certificate kind. No dependence on the system openssl.cnf,
# whose defaults (and extensions) differ between distributions.
cat >"$WORK/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $SAN
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# EC P-256: quick to generate on a Pi, supported by every TLS stack in use (Mosquitto,
# Python's ssl).
new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# Sign a certificate for key $1 with subject CN $2, extensions section $3, into $4.
issue() {
    openssl req -new -config "$WORK/openssl.cnf" -key "$1" -subj "/CN=$2" -out "$WORK/req.csr"
    openssl x509 -req -in "$WORK/req.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$CERT_DAYS" -sha256 \
        -extfile "$WORK/openssl.cnf" -extensions "$3" -out "$4" 2>/dev/null
    chmod 0644 "$4"
}

if [ ! -e "$DIR/ca.crt" ]; then
    [ ! -e "$DIR/ca.key" ] || { echo "make-site-ca.sh: $DIR/ca.key exists without ca.crt" >&2; exit 1; }
    new_key "$DIR/ca.key"
    openssl req -x509 -new -config "$WORK/openssl.cnf" -extensions ca -key "$DIR/ca.key" \
        -subj "/CN=Menwei site CA $FIRST_NAME" -days "$CA_DAYS" -sha256 -out "$DIR/ca.crt"
    chmod 0644 "$DIR/ca.crt"
    echo "created the site CA: $DIR/ca.crt"
fi

if [ ! -e "$DIR/server.crt" ]; then
    new_key "$DIR/server.key"
    issue "$DIR/server.key" "$FIRST_NAME" server "$DIR/server.crt"
    echo "created the broker certificate for $SAN: $DIR/server.crt"
else
    echo "kept $DIR/server.crt (delete it and server.key to re-issue for other names)"
fi

for device in "$@"; do
    if [ -e "$DIR/devices/$device.crt" ]; then
        echo "kept $DIR/devices/$device.crt"
        continue
    fi
    new_key "$DIR/devices/$device.key"
    issue "$DIR/devices/$device.key" "$device" client "$DIR/devices/$device.crt"
    echo "created the client certificate of $device: $DIR/devices/$device.crt"
done

for cert in "$DIR/ca.crt" "$DIR/server.crt" "$DIR"/devices/*.crt; do
    [ -e "$cert" ] || continue
    printf '%s expires %s\n' "${cert#"$DIR"/}" "$(openssl x509 -in "$cert" -noout -enddate | cut -d= -f2)"
done
