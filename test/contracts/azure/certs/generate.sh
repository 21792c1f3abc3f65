#!/usr/bin/env bash
# Regenerates the contract server's test CA and its server certificate (for 127.0.0.1 and
# localhost). These keys protect nothing: they exist so the client is tested over real TLS,
# as ARM requires for bearer tokens. Valid for 100 years so CI never trips on expiry.
set -euo pipefail
cd "$(dirname "$0")"
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj "/CN=graceful-vm azure contract test CA" \
  -keyout ca-key.pem -out ca.pem -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 36500 -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl ca-key.pem
