package server

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProxyInterceptsOnlyAzureAndItself(t *testing.T) {
	t.Parallel()
	p := newInterceptProxy(nil, nil, "127.0.0.1:7443", slog.Default())
	for hostport, want := range map[[2]string]bool{
		{"management.azure.com", "443"}:             true,
		{"MANAGEMENT.azure.com", "443"}:             true,
		{"ws1abc.blob.core.windows.net", "443"}:     true,
		{"a.b.blob.core.windows.net", "443"}:        false,
		{".blob.core.windows.net", "443"}:           false,
		{"management.azure.com", "80"}:              false,
		{"login.microsoftonline.com", "443"}:        false,
		{"example.com", "443"}:                      false,
		{"127.0.0.1", "7443"}:                       true,
		{"127.0.0.1", "22"}:                         false,
		{"evil.com/x.blob.core.windows.net", "443"}: false,
	} {
		require.Equal(t, want, p.intercepted(hostport[0], hostport[1]), hostport)
	}
}
