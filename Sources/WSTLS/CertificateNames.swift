import COpenSSL
import WSPlatform

/// A verified client certificate as the child sees it (SPEC §10, mod_ssl's variables).
enum CertificateNames {
    static func describe(_ certificate: OpaquePointer) -> TLSSessionInfo.ClientCertificate {
        let subject = X509_get_subject_name(certificate)
        return TLSSessionInfo.ClientCertificate(
            subject: rfc2253(subject), issuer: rfc2253(X509_get_issuer_name(certificate)),
            serial: serial(of: certificate), commonName: commonName(subject))
    }

    /// A distinguished name in RFC 2253's form ("CN=alice,O=Example").
    private static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, wsbridge_xn_flag_rfc2253) >= 0 else { return "" }
        let length = Int(BIO_ctrl_pending(bio))
        var bytes = [UInt8](repeating: 0, count: length)
        let read = BIO_read(bio, &bytes, Int32(length))
        return String(decoding: bytes.prefix(Int(max(read, 0))), as: UTF8.self)
    }

    /// The serial number in upper-case hex, as mod_ssl's SSL_CLIENT_M_SERIAL.
    private static func serial(of certificate: OpaquePointer) -> String {
        guard let integer = X509_get_serialNumber(certificate), let number = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { CRYPTO_free(hex, nil, 0) }
        return String(cString: hex)
    }

    /// The subject's common name, for REMOTE_USER.
    private static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, nil, 0) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }
}
