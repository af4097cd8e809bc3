package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// TLSPair is a self-signed certificate for 127.0.0.1 and localhost (Server) and a
// client config that trusts it (Client).
type TLSPair struct {
	Server *tls.Config
	Client *tls.Config
}

var (
	localTLSOnce sync.Once
	localTLS     TLSPair
)

// LocalTLS returns the tests' TLS pair, made once per test binary. The Sink's TLS
// modes use it.
func LocalTLS() TLSPair {
	localTLSOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "test smtp"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		localTLS = TLSPair{
			Server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
			Client: &tls.Config{RootCAs: pool},
		}
	})
	return localTLS
}

// StartBlackHole accepts connections and never answers: a relay that hangs. With
// greet set it sends an SMTP greeting first and then goes quiet. Each connection
// is announced on the returned channel once the client has written something (or,
// with nothing to wait for, once it is accepted), so the client is known to be
// blocked waiting for a reply. It closes when the test ends.
func StartBlackHole(t testing.TB, greet bool) (addr string, waiting <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				if greet {
					io.WriteString(c, "220 localhost ESMTP\r\n") //nolint:errcheck // the client reads it or not
				}
				c.Read(make([]byte, 1)) //nolint:errcheck // EHLO, or a TLS ClientHello
				ch <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}
