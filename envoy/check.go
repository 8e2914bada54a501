package envoy

import (
	"errors"
	"fmt"
	"strings"

	mutationrulesv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Check finds what the generated validation accepts but Envoy refuses or ignores, in msg
// and in every Any inside it:
//   - a field or message annotated [#not-implemented-hide:] in Envoy's API (accepted by
//     validation, then ignored or refused: system_root_certs is one);
//   - a CertificateValidationContext that matches SANs, loads a CRL or allows expired
//     certificates without a trusted CA, which Envoy rejects when it builds the context
//     ("SAN-based verification of peer certificates without trusted CA is insecure and
//     not allowed");
//   - a header_mutation that sets a header from %UPSTREAM_METADATA(...)% without removing
//     it first: Envoy skips an append whose value is empty, so the header a client sent,
//     or the one an earlier attempt set, would reach a host without that metadata.
func Check(msg proto.Message) error {
	if msg == nil {
		return errors.New("check: nil message")
	}
	var errs []error
	checkMessage(msg.ProtoReflect(), string(msg.ProtoReflect().Descriptor().FullName()), &errs)
	return errors.Join(errs...)
}

func checkMessage(m protoreflect.Message, path string, errs *[]error) {
	if !m.IsValid() {
		return
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s: cannot unpack Any %q: %w", path, a.GetTypeUrl(), err))
			return
		}
		checkMessage(inner.ProtoReflect(), path+"("+string(inner.ProtoReflect().Descriptor().FullName())+")", errs)
		return
	}
	if name := string(m.Descriptor().FullName()); notImplemented[name] {
		*errs = append(*errs, fmt.Errorf("%s: message %s is not implemented by Envoy ([#not-implemented-hide:])", path, name))
	}
	switch v := m.Interface().(type) {
	case *tlsv3.CertificateValidationContext:
		if err := checkValidationContext(v); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
		}
	case *headermutationv3.HeaderMutation:
		if err := checkCredentialMutations(v.GetMutations().GetRequestMutations()); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		if notImplemented[string(fd.FullName())] {
			*errs = append(*errs, fmt.Errorf("%s: field %s is not implemented by Envoy ([#not-implemented-hide:])", p, fd.FullName()))
		}
		switch {
		case fd.IsList() && isMessage(fd):
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				checkMessage(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i), errs)
			}
		case fd.IsMap() && isMessage(fd.MapValue()):
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				checkMessage(mv.Message(), fmt.Sprintf("%s[%v]", p, k.Interface()), errs)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && isMessage(fd):
			checkMessage(v.Message(), p, errs)
		}
		return true
	})
}

// checkValidationContext mirrors the constructor of Envoy's
// CertificateValidationContextConfigImpl: without a CA (trusted_ca, or a CA certificate
// provider) SAN matching, a CRL and allow_expired_certificate are configuration errors.
func checkValidationContext(vc *tlsv3.CertificateValidationContext) error {
	if vc.GetTrustedCa() != nil || vc.GetCaCertificateProviderInstance() != nil {
		return nil
	}
	switch {
	case len(vc.GetMatchTypedSubjectAltNames()) > 0 || len(vc.GetMatchSubjectAltNames()) > 0: //nolint:staticcheck // the deprecated field is refused the same way
		return errors.New("SAN matchers without trusted_ca: Envoy refuses SAN-based verification without a trusted CA")
	case vc.GetCrl() != nil:
		return errors.New("crl without trusted_ca: Envoy refuses it")
	case vc.GetAllowExpiredCertificate():
		return errors.New("allow_expired_certificate without trusted_ca: Envoy refuses it")
	}
	return nil
}

// upstreamMetadataPrefix marks a header value taken from the chosen host's metadata.
const upstreamMetadataPrefix = "%UPSTREAM_METADATA("

// checkCredentialMutations requires every header set from host metadata to be removed by
// an earlier mutation of the same list.
func checkCredentialMutations(ms []*mutationrulesv3.HeaderMutation) error {
	removed := map[string]bool{}
	var errs []error
	for i, m := range ms {
		if r := m.GetRemove(); r != "" {
			removed[strings.ToLower(r)] = true
			continue
		}
		h := m.GetAppend().GetHeader()
		if h == nil || !strings.Contains(h.GetValue(), upstreamMetadataPrefix) {
			continue
		}
		if !removed[strings.ToLower(h.GetKey())] {
			errs = append(errs, fmt.Errorf(
				"request_mutations[%d] sets %q from host metadata without removing it first: a host without that metadata would receive the client's or an earlier attempt's value",
				i, h.GetKey()))
		}
	}
	return errors.Join(errs...)
}
