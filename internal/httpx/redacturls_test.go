package httpx

import "testing"

func TestRedactURLsIn(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{`Get "https://s3.example.com/b/sha256:ab?X-Amz-Credential=AKIA%2F123&X-Amz-Signature=deadbeef": EOF`,
			`Get "https://s3.example.com/b/sha256:ab?X-Amz-Credential=***&X-Amz-Signature=***": EOF`},
		{"token (https://auth.example.com/token?scope=repo:x:pull&account=ci) refused", "token (https://auth.example.com/token?scope=***&account=***) refused"},
		{"http://h/p?flag#frag and https://h/q?a=1 end", "http://h/p?flag#frag and https://h/q?a=*** end"},
		{"no url here? a=b", "no url here? a=b"},
		{"https://notary.example.com:4443 without query", "https://notary.example.com:4443 without query"},
		{`proxyconnect tcp: dial "http://ci:S3cret@proxy.corp:3128": refused`, `proxyconnect tcp: dial "http://***@proxy.corp:3128": refused`},
		{"https://tok@h/p?a=1 and mail ci@example.com", "https://***@h/p?a=*** and mail ci@example.com"},
	}
	for _, c := range cases {
		if got := RedactURLsIn(c.in); got != c.want {
			t.Errorf("RedactURLsIn(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestRedactURLQueries(t *testing.T) {
	t.Parallel()
	clean := []byte("no url here? a=b")
	if got := RedactURLQueries(clean); &got[0] != &clean[0] {
		t.Error("clean input was copied")
	}
	if got := string(RedactURLQueries([]byte("see https://h/t?sig=s3cret now"))); got != "see https://h/t?sig=*** now" {
		t.Errorf("got %q", got)
	}
}
