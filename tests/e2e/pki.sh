#!/bin/sh
# Test PKI for the probe scenarios, made with the openssl command only (OpenSSL 3.0).
# Sourced: `pki_make DIR` creates everything under DIR. Run: `sh pki.sh DIR`.
# All keys ECDSA P-256 (PKCS#8) unless stated. Files under DIR:
#   ca.pem/.key          cluster root CA ("Example Cluster CA")
#   int.pem/.key         intermediate CA signed by the root
#   a-kma01.pem/.key     serial E2207FDBA432E9010000000000000084 (the enrolled one)
#   a-kma01-new.pem/.key same CN, new key, serial E2207FDBA432E9010000000000000085
#                        (QuickStarted after a board change, never rejoined)
#   u-kma02.pem/.key     another node, root-signed
#   a-kma03.pem/.key     leaf signed by the intermediate (chain: a-kma03.pem + int.pem)
#   expired.pem/.key     CN a-kma01, valid 2020-01-01..2021-01-01
#   notyet.pem/.key      CN a-kma01, valid 2090-01-01..2100-01-01
#   revoked.pem/.key     CN a-kma01, on ca.crl (CRL by the root, revoked.pem's serial)
#   clientonly.pem/.key  CN a-kma01, extendedKeyUsage clientAuth only
#   domain-ca.pem/.key   a foreign self-signed root ("Example Domain CA")
#   domain-leaf.pem/.key CN a-kma01 signed by the domain CA
#   rsa.pem/.key         RSA-2048 self-signed (only for an s_server without ECDSA suites)
#   serial.<name>        each leaf's serial, uppercase hex, no leading 00
# Every valid-now certificate is valid from 2000 to 2120 (no clock sensitivity).

pki_conf() { # pki_conf CADIR: an `openssl ca` configuration rooted at CADIR
	mkdir -p "$1/new"
	: >"$1/index.txt"
	echo "unique_subject = no" >"$1/index.txt.attr"
	cat >"$1/ca.cnf" <<EOF
[ca]
default_ca = this
[this]
dir = $1
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_crl_days = 36500
policy = any
email_in_dn = no
copy_extensions = none
unique_subject = no
[any]
organizationName = optional
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[int]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[clientonly]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

pki_key() { # pki_key OUT
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null &&
		chmod 600 "$1"
}

# pki_sign CADIR NAME SUBJECT EXT SERIAL START END [OUTDIR]
# Key OUTDIR/NAME.key (made if absent), certificate OUTDIR/NAME.pem signed by CADIR's CA.
pki_sign() {
	_o=${8:-$PKI}
	[ -f "$_o/$2.key" ] || pki_key "$_o/$2.key" || return 1
	openssl req -new -key "$_o/$2.key" -subj "$3" -config "$1/ca.cnf" -out "$1/$2.csr" \
		2>/dev/null || return 1
	echo "$5" >"$1/serial"
	openssl ca -batch -notext -config "$1/ca.cnf" -extensions "$4" -startdate "$6" \
		-enddate "$7" -in "$1/$2.csr" -out "$_o/$2.pem" 2>"$1/$2.log" ||
		{ cat "$1/$2.log" >&2; return 1; }
	echo "$5" >"$_o/serial.$2"
}

# pki_root DIR NAME SUBJECT: a self-signed root in DIR/NAME/ (copied to DIR/NAME.pem/.key)
pki_root() {
	_d="$1/$2"
	pki_conf "$_d"
	pki_key "$_d/ca.key" || return 1
	openssl req -new -key "$_d/ca.key" -subj "$3" -config "$_d/ca.cnf" -out "$_d/ca.csr" \
		2>/dev/null || return 1
	echo 01 >"$_d/serial"
	openssl ca -batch -notext -selfsign -keyfile "$_d/ca.key" -config "$_d/ca.cnf" \
		-extensions root -startdate 20000101000000Z -enddate 21200101000000Z \
		-in "$_d/ca.csr" -out "$_d/ca.pem" 2>"$_d/ca.log" || { cat "$_d/ca.log" >&2; return 1; }
	cp "$_d/ca.pem" "$1/$2.pem"
	cp "$_d/ca.key" "$1/$2.key"
}

pki_make() {
	PKI=$1
	mkdir -p "$PKI" || return 1
	NOW0=20000101000000Z
	NOW1=21200101000000Z
	O="/O=Example Cluster"
	(
		set -e
		pki_root "$PKI" ca "$O/CN=Example Cluster CA"
		# intermediate
		pki_sign "$PKI/ca" int "$O/CN=Example Cluster Intermediate CA" int 1A2B3C4D5E6F0001 \
			$NOW0 $NOW1
		pki_conf "$PKI/int"
		cp "$PKI/int.pem" "$PKI/int/ca.pem"
		cp "$PKI/int.key" "$PKI/int/ca.key"
		pki_sign "$PKI/ca" a-kma01 "$O/CN=a-kma01" leaf E2207FDBA432E9010000000000000084 $NOW0 $NOW1
		pki_sign "$PKI/ca" a-kma01-new "$O/CN=a-kma01" leaf E2207FDBA432E9010000000000000085 $NOW0 $NOW1
		pki_sign "$PKI/ca" u-kma02 "$O/CN=u-kma02" leaf 866B070F94660D13000000000000001E $NOW0 $NOW1
		pki_sign "$PKI/int" a-kma03 "$O/CN=a-kma03" leaf 3C0FFEE000000000000000000000000A $NOW0 $NOW1
		pki_sign "$PKI/ca" expired "$O/CN=a-kma01" leaf 0E0000000000000000000000000000E1 \
			20200101000000Z 20210101000000Z
		pki_sign "$PKI/ca" notyet "$O/CN=a-kma01" leaf 0E0000000000000000000000000000F2 \
			20900101000000Z 21000101000000Z
		pki_sign "$PKI/ca" revoked "$O/CN=a-kma01" leaf 0E0000000000000000000000000000D3 $NOW0 $NOW1
		pki_sign "$PKI/ca" clientonly "$O/CN=a-kma01" clientonly 0E0000000000000000000000000000C4 \
			$NOW0 $NOW1
		openssl ca -batch -config "$PKI/ca/ca.cnf" -revoke "$PKI/revoked.pem" \
			-crl_reason keyCompromise 2>"$PKI/ca/revoke.log"
		openssl ca -batch -config "$PKI/ca/ca.cnf" -gencrl -out "$PKI/ca.crl" 2>"$PKI/ca/crl.log"
		# the foreign CA of the domain-CA incident, with a leaf naming one of our nodes
		pki_root "$PKI" domain-ca "/O=Example Domain/CN=Example Domain CA"
		pki_sign "$PKI/domain-ca" domain-leaf "/O=Example Domain/CN=a-kma01" leaf \
			0D0000000000000000000000000000B5 $NOW0 $NOW1
		# RSA, for a peer that only offers RSA key exchange
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/rsa.key" -out "$PKI/rsa.pem" \
			-subj "/O=Example Legacy/CN=legacy-rsa" -days 36500 2>/dev/null
		# chain file the intermediate-signed server must send
		cat "$PKI/a-kma03.pem" "$PKI/int.pem" >"$PKI/a-kma03-chain.pem"
	)
	# not `( ... ) || ...`: set -e is ignored inside a subshell that is part of an AND-OR list
	# shellcheck disable=SC2181
	[ $? -eq 0 ] || { echo "pki.sh: failed to create the test PKI in $PKI" >&2; return 1; }
}

# pki_coord DIR: after pki_make, kma-coord's server certificate (cluster CA, names localhost
# and 127.0.0.1) as coord.pem/key, and an operator CA (opca.pem) with one operator, alice.
pki_coord() {
	printf '[server]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n' \
		>>"$1/ca/ca.cnf"
	pki_sign "$1/ca" coord "/O=Example Cluster/CN=kma-coord" server 5E4E4E4E00000001 \
		"$NOW0" "$NOW1" || return 1
	pki_root "$1" opca "/O=Example Operators/CN=Example Operator CA" || return 1
	pki_sign "$1/opca" alice "/O=Example Operators/CN=alice" clientonly 0A11CE0000000001 \
		"$NOW0" "$NOW1"
}

# pki_coord_conf FILE DIR PORT DB: the [coord] section of a kma-coord configuration with
# the certificates pki_coord made in DIR, listening on 127.0.0.1:PORT; callers append
# their own keys after it (its lines come first, so file:line expectations hold).
pki_coord_conf() {
	cat >"$1" <<CONF
[coord]
listen = 127.0.0.1:$3
db = $4
cert = $2/coord.pem
key = $2/coord.key
ca = $2/ca.pem
operator_ca = $2/opca.pem
CONF
}

# Run directly: pki.sh DIR
case "$0" in
*pki.sh)
	[ $# -eq 1 ] || { echo "usage: pki.sh DIR" >&2; exit 64; }
	pki_make "$1"
	;;
esac
