package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCAPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	require.NoError(t, err)
	require.True(t, ca.Cert.IsCA)
	fi, err := os.Stat(filepath.Join(dir, caKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the CA key is private")

	again, err := LoadOrCreateCA(dir)
	require.NoError(t, err)
	require.Equal(t, ca.Cert.Raw, again.Cert.Raw, "a restart keeps the CA that clients trust")
	require.Equal(t, ca.CertPEM, again.CertPEM)
}

func TestCAIssuesCertificatesThatVerify(t *testing.T) {
	t.Parallel()
	ca, err := LoadOrCreateCA(t.TempDir())
	require.NoError(t, err)
	certPEM, _, err := ca.Issue([]string{"localhost", "127.0.0.1", "::1", "mlw.example.org"}, 24*time.Hour)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca.CertPEM))
	leaf := parsePEM(t, certPEM)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "mlw.example.org"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "other.example.org", Roots: roots})
	require.Error(t, err, "the certificate covers only the names it was issued for")

	// Another CA's clients do not trust it.
	other, err := LoadOrCreateCA(t.TempDir())
	require.NoError(t, err)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Cert)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: otherRoots})
	require.Error(t, err)
}

// TestServerCertificateOverTLS: a client that trusts only ca.crt completes
// a real TLS handshake with the server certificate.
func TestServerCertificateOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	require.NoError(t, err)
	cert, err := ca.ServerCertificate(dir, []string{"localhost", "127.0.0.1"})
	require.NoError(t, err)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca.CertPEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "ok", string(body))

	// A client with only the system roots refuses it.
	_, err = (&http.Client{Transport: &http.Transport{}}).Get(srv.URL)
	require.Error(t, err)
}

func TestServerCertificateIsReusedUntilHostsChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	require.NoError(t, err)
	first, err := ca.ServerCertificate(dir, []string{"localhost", "127.0.0.1"})
	require.NoError(t, err)
	same, err := ca.ServerCertificate(dir, []string{"127.0.0.1"})
	require.NoError(t, err)
	require.Equal(t, first.Certificate[0], same.Certificate[0], "a covered subset reuses the certificate")

	more, err := ca.ServerCertificate(dir, []string{"localhost", "127.0.0.1", "mlw.example.org"})
	require.NoError(t, err)
	require.NotEqual(t, first.Certificate[0], more.Certificate[0])
	leaf := parseDER(t, more.Certificate[0])
	require.Contains(t, leaf.DNSNames, "mlw.example.org")

	// A certificate from another CA (say, the CA was replaced) is reissued.
	other, err := LoadOrCreateCA(t.TempDir())
	require.NoError(t, err)
	reissued, err := other.ServerCertificate(dir, []string{"localhost"})
	require.NoError(t, err)
	require.NoError(t, parseDER(t, reissued.Certificate[0]).CheckSignatureFrom(other.Cert))
}

func TestCertForCaches(t *testing.T) {
	t.Parallel()
	ca, err := LoadOrCreateCA(t.TempDir())
	require.NoError(t, err)
	a, err := ca.CertFor("management.azure.com")
	require.NoError(t, err)
	b, err := ca.CertFor("management.azure.com")
	require.NoError(t, err)
	require.Same(t, a, b)
	require.Len(t, a.Certificate, 2, "the chain includes the CA")
	require.Equal(t, []string{"management.azure.com"}, a.Leaf.DNSNames)
}

func parseDER(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

func parsePEM(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	require.NotNil(t, block)
	return parseDER(t, block.Bytes)
}
