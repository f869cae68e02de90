package smart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
)

// Generate makes a new P-384 key (ES384), as PKCS#8 PEM, for a webhook that gives none: Epic
// then reads its public half from Taskhook's JWK Set URL.
func Generate() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

func publicOf(privatePEM string) (any, error) {
	k, err := parseKey(privatePEM)
	if err != nil {
		return nil, err
	}
	switch s := k.signer.(type) {
	case *rsa.PrivateKey:
		return &s.PublicKey, nil
	case *ecdsa.PrivateKey:
		return &s.PublicKey, nil
	}
	return nil, errors.New("unsupported key")
}

// publicDER is the PKIX encoding of a private key's public half.
func publicDER(privatePEM string) ([]byte, error) {
	pub, err := publicOf(privatePEM)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// PublicPEM is the public half of a private key, as PKIX PEM (kept to publish a rotated key
// during its grace period).
func PublicPEM(privatePEM string) (string, error) {
	der, err := publicDER(privatePEM)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// KeyID is a key's id derived from its public half ("taskhook-" and 16 hex digits of the
// SHA-256 of its PKIX encoding): the same across restarts, different for every key.
func KeyID(privatePEM string) (string, error) {
	der, err := publicDER(privatePEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "taskhook-" + hex.EncodeToString(sum[:8]), nil
}

// JWK is a public JSON Web Key (RFC 7517) as a JWK Set lists it.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKOf is the JWK of a public key in PKIX PEM.
func JWKOf(publicPEM, kid string) (JWK, error) {
	block, _ := pem.Decode([]byte(publicPEM))
	if block == nil {
		return JWK{}, errors.New("not a PEM public key")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return JWK{}, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		raw, err := p.Bytes() // 0x04 || X || Y, each of the curve's size
		if err != nil {
			return JWK{}, err
		}
		size := (len(raw) - 1) / 2
		return JWK{Kty: "EC", Kid: kid, Alg: "ES384", Use: "sig", Crv: "P-384", X: b64(raw[1 : 1+size]), Y: b64(raw[1+size:])}, nil
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", Kid: kid, Alg: "RS384", Use: "sig", N: b64(p.N.Bytes()), E: b64(big.NewInt(int64(p.E)).Bytes())}, nil
	}
	return JWK{}, errors.New("unsupported public key")
}
