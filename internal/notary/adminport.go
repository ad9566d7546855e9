package notary

import (
	"context"
	"fmt"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// AdminPort is the Client as the admin use cases see it (sign.TrustAdmin):
// keys cross the use-case layer as sign.Key and are this package's *Key.
type AdminPort struct{ Client *Client }

var _ sign.TrustAdmin = AdminPort{}

// keyOf is the *Key behind a sign.Key; nil stays nil.
func keyOf(k sign.Key) (*Key, error) {
	if k == nil {
		return nil, nil
	}
	nk, ok := k.(*Key)
	if !ok || nk == nil {
		return nil, fmt.Errorf("key %s is not a notary key", k.ID())
	}
	return nk, nil
}

func (a AdminPort) Init(ctx context.Context, gun string, root sign.Key, targets func() (sign.Key, error)) (bool, error) {
	rk, err := keyOf(root)
	if err != nil {
		return false, err
	}
	return a.Client.Init(ctx, gun, rk, func() (*Key, error) {
		k, err := targets()
		if err != nil {
			return nil, err
		}
		return keyOf(k)
	})
}

func (a AdminPort) AddSigner(ctx context.Context, gun, name string, pubPEM []byte) (string, error) {
	return a.Client.AddSigner(ctx, gun, name, pubPEM)
}

func (a AdminPort) RemoveSigner(ctx context.Context, gun, name string) error {
	return a.Client.RemoveSigner(ctx, gun, name)
}

func (a AdminPort) RotateSignerKey(ctx context.Context, gun, name string, newKey sign.Key) ([]string, error) {
	nk, err := keyOf(newKey)
	if err != nil {
		return nil, err
	}
	return a.Client.RotateSignerKey(ctx, gun, name, nk)
}

func (a AdminPort) RenewRoot(ctx context.Context, gun string, oldRoot, newRoot sign.Key, beforePublish func() error) (*sign.RootRenewal, error) {
	ok, err := keyOf(oldRoot)
	if err != nil {
		return nil, err
	}
	nk, err := keyOf(newRoot)
	if err != nil {
		return nil, err
	}
	return a.Client.RenewRoot(ctx, gun, ok, nk, beforePublish)
}

// KeyMaker generates keys in docker's formats (sign.KeyMaker).
type KeyMaker struct{}

var _ sign.KeyMaker = KeyMaker{}

func (KeyMaker) Delegation(name string, pass core.Secret) (sign.Key, core.Secret, []byte, error) {
	k, pem, pub, err := GenerateKey(name, pass)
	if err != nil {
		return nil, nil, nil, err
	}
	return k, pem, pub, nil
}

func (KeyMaker) Root(pass core.Secret) (sign.Key, core.Secret, error) {
	k, pem, err := GenerateRootKey(pass)
	if err != nil {
		return nil, nil, err
	}
	return k, pem, nil
}
