/* addroot.exe: add a CA certificate to a Windows "Root" certificate store (for tests under Wine).
 *
 *   addroot.exe [--user|--machine|--both] CERT.pem|CERT.der
 *
 * The certificate may be PEM (one "-----BEGIN CERTIFICATE-----" block) or DER. Adding is idempotent
 * (CERT_STORE_ADD_REPLACE_EXISTING). Default: --both, i.e. CERT_SYSTEM_STORE_CURRENT_USER "Root" and
 * CERT_SYSTEM_STORE_LOCAL_MACHINE "Root"; see README.md for which one the default chain engine honours under Wine.
 * Exits 0 on success, 1 with a message on stderr on any failure, 2 on bad usage.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -s -o addroot.exe addroot.c -lcrypt32
 */
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, const char *detail)
{
    fprintf(stderr, "addroot: %s%s%s (error 0x%08lx)\n", what, detail ? ": " : "", detail ? detail : "",
            (unsigned long)GetLastError());
    return 1;
}

static int add_to(DWORD location, const char *name, const BYTE *der, DWORD der_len)
{
    HCERTSTORE store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, location, L"Root");
    if (!store)
        return fail("cannot open the Root store", name);
    if (!CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der, der_len, CERT_STORE_ADD_REPLACE_EXISTING,
                                          NULL)) {
        int rc = fail("cannot add the certificate to the Root store", name);
        CertCloseStore(store, 0);
        return rc;
    }
    if (!CertCloseStore(store, CERT_CLOSE_STORE_CHECK_FLAG))
        return fail("cannot close the Root store", name);
    return 0;
}

int main(int argc, char **argv)
{
    int user = 1, machine = 1, check_only = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--user")) { user = 1; machine = 0; }
        else if (!strcmp(argv[i], "--machine")) { user = 0; machine = 1; }
        else if (!strcmp(argv[i], "--both")) { user = 1; machine = 1; }
        else if (!strcmp(argv[i], "--check")) { check_only = 1; }
        else if (!path && argv[i][0] != '-') path = argv[i];
        else { path = NULL; break; }
    }
    if (!path) {
        fprintf(stderr, "usage: addroot.exe [--user|--machine|--both|--check] CERT.pem|CERT.der\n");
        return 2;
    }

    FILE *f = fopen(path, "rb");
    if (!f)
        return fail("cannot open", path);
    static BYTE raw[1 << 20];
    size_t raw_len = fread(raw, 1, sizeof raw, f);
    int too_big = !feof(f);
    fclose(f);
    if (raw_len == 0 || too_big) {
        SetLastError(ERROR_INVALID_DATA);
        return fail(raw_len == 0 ? "empty file" : "file too large", path);
    }

    static BYTE der_buf[1 << 20];
    const BYTE *der = raw;
    DWORD der_len = (DWORD)raw_len;
    if (raw_len > 0 && raw[0] != 0x30) { /* not DER (a SEQUENCE): treat as PEM */
        DWORD n = sizeof der_buf;
        if (!CryptStringToBinaryA((const char *)raw, (DWORD)raw_len, CRYPT_STRING_BASE64HEADER, der_buf, &n, NULL,
                                  NULL))
            return fail("not a PEM or DER certificate", path);
        der = der_buf;
        der_len = n;
    }

    PCCERT_CONTEXT ctx = CertCreateCertificateContext(X509_ASN_ENCODING, der, der_len);
    if (!ctx)
        return fail("cannot parse the certificate", path);

    if (!check_only) {
        if (user && add_to(CERT_SYSTEM_STORE_CURRENT_USER, "CurrentUser\\Root", der, der_len))
            return 1;
        if (machine && add_to(CERT_SYSTEM_STORE_LOCAL_MACHINE, "LocalMachine\\Root", der, der_len))
            return 1;
    }

    /* Prove it: the default chain engine (what CertGetCertificateChain(NULL, ...) uses, as rustls-platform-verifier's
     * Verifier::new does) must now see the certificate as a trusted root. */
    CERT_CHAIN_PARA para;
    memset(&para, 0, sizeof para);
    para.cbSize = sizeof para;
    PCCERT_CHAIN_CONTEXT chain = NULL;
    if (!CertGetCertificateChain(NULL, ctx, NULL, NULL, &para, 0, NULL, &chain))
        return fail("CertGetCertificateChain failed", path);
    DWORD status = chain->TrustStatus.dwErrorStatus;
    CertFreeCertificateChain(chain);
    CertFreeCertificateContext(ctx);
    if (status & CERT_TRUST_IS_NOT_SIGNATURE_VALID) {
        /* Wine 8.0 concatenates ECDSA r and s without padding: a signature whose r or s has fewer than 32 (P-256)
         * significant bytes (about 1 in 128) never verifies. Regenerate the certificate. */
        SetLastError(status);
        return fail("Wine cannot verify the certificate's own signature (an ECDSA r or s shorter than the key size?); "
                    "regenerate it", path);
    }
    if (status & (CERT_TRUST_IS_UNTRUSTED_ROOT | CERT_TRUST_IS_PARTIAL_CHAIN)) {
        SetLastError(status);
        return fail(check_only ? "the default chain engine does not trust the certificate"
                               : "added, but the default chain engine still does not trust the certificate",
                    path);
    }
    return 0;
}
