/* stdio-probe.exe: what a Windows .exe sees on its stdio under Wine (see README.md). MODE [ARG]:
 *   info           : report GetFileType + PeekNamedPipe of stdin/stdout/stderr to stderr
 *   read           : blocking ReadFile on stdin until 0 bytes / error, report
 *   write N        : WriteFile 64 KiB chunks to stdout up to N times, report the error
 *   peekwait MS    : poll PeekNamedPipe on stdin every 10 ms for up to MS, report availability + EOF behaviour
 *   relay PORT [N] : connect 127.0.0.1:PORT, relay stdin<->socket (two threads), log events to stderr, exit N
 *   exit N         : exit with code N
 * Build: x86_64-w64-mingw32-gcc -O2 -o stdio-probe.exe stdio-probe.c -lws2_32
 */
#include <winsock2.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ftype(DWORD t) {
    switch (t) { case FILE_TYPE_PIPE: return "PIPE"; case FILE_TYPE_DISK: return "DISK"; case FILE_TYPE_CHAR: return "CHAR";
    case FILE_TYPE_UNKNOWN: return "UNKNOWN"; default: return "?"; }
}
static void logf_(const char *fmt, ...) {
    char buf[512]; va_list ap; va_start(ap, fmt); vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
    DWORD w; WriteFile(GetStdHandle(STD_ERROR_HANDLE), buf, (DWORD)strlen(buf), &w, NULL);
}
static void info(void) {
    const char *names[] = {"stdin", "stdout", "stderr"};
    DWORD ids[] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
    for (int i = 0; i < 3; i++) {
        HANDLE h = GetStdHandle(ids[i]);
        DWORD t = GetFileType(h), err = GetLastError();
        DWORD avail = 0; SetLastError(0);
        BOOL ok = PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL);
        DWORD perr = GetLastError();
        DWORD flags = 0; BOOL infook = GetNamedPipeInfo(h, &flags, NULL, NULL, NULL);
        logf_("probe: %s handle=%p GetFileType=%s(%lu, err %lu) PeekNamedPipe=%d avail=%lu err=%lu GetNamedPipeInfo=%d\n",
              names[i], h, ftype(t), t, err, ok, avail, perr, infook);
    }
}

static SOCKET sock;
static DWORD WINAPI up(LPVOID p) { /* stdin -> socket */
    (void)p; char buf[16384]; DWORD n; unsigned long long total = 0;
    for (;;) {
        BOOL ok = ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, sizeof buf, &n, NULL);
        if (!ok) { logf_("probe: relay stdin ReadFile failed err=%lu after %llu bytes\n", GetLastError(), total); break; }
        if (n == 0) { logf_("probe: relay stdin EOF (ReadFile ok, 0 bytes) after %llu bytes\n", total); break; }
        total += n;
        if (send(sock, buf, (int)n, 0) != (int)n) { logf_("probe: relay send failed %d\n", WSAGetLastError()); break; }
    }
    shutdown(sock, SD_SEND);
    return 0;
}
static DWORD WINAPI down(LPVOID p) { /* socket -> stdout */
    (void)p; char buf[16384]; unsigned long long total = 0;
    for (;;) {
        int n = recv(sock, buf, sizeof buf, 0);
        if (n <= 0) { logf_("probe: relay socket recv=%d (err %d) after %llu bytes\n", n, WSAGetLastError(), total); break; }
        DWORD w; BOOL ok = WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), buf, (DWORD)n, &w, NULL);
        if (!ok) { logf_("probe: relay stdout WriteFile failed err=%lu after %llu bytes\n", GetLastError(), total); break; }
        total += n;
    }
    CloseHandle(GetStdHandle(STD_OUTPUT_HANDLE));
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "info";
    if (!strcmp(mode, "info")) { info(); return 0; }
    if (!strcmp(mode, "exit")) { return argc > 2 ? atoi(argv[2]) : 0; }
    if (!strcmp(mode, "read")) {
        info();
        char buf[65536]; DWORD n; unsigned long long total = 0; DWORD t0 = GetTickCount();
        for (;;) {
            BOOL ok = ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, sizeof buf, &n, NULL);
            if (!ok) { logf_("probe: ReadFile failed err=%lu after %llu bytes (%lu ms)\n", GetLastError(), total, GetTickCount() - t0); return 1; }
            if (n == 0) { logf_("probe: ReadFile returned TRUE with 0 bytes (EOF) after %llu bytes (%lu ms)\n", total, GetTickCount() - t0); return 0; }
            total += n;
        }
    }
    if (!strcmp(mode, "write")) {
        int count = argc > 2 ? atoi(argv[2]) : 1000000;
        static char buf[65536]; memset(buf, 'x', sizeof buf); unsigned long long total = 0;
        for (int i = 0; i < count; i++) {
            DWORD w; BOOL ok = WriteFile(GetStdHandle(STD_OUTPUT_HANDLE), buf, sizeof buf, &w, NULL);
            if (!ok) { logf_("probe: WriteFile failed err=%lu after %llu bytes\n", GetLastError(), total); return 1; }
            total += w;
        }
        logf_("probe: wrote %llu bytes\n", total); return 0;
    }
    if (!strcmp(mode, "peekwait")) {
        int ms = argc > 2 ? atoi(argv[2]) : 2000; DWORD t0 = GetTickCount();
        while ((int)(GetTickCount() - t0) < ms) {
            DWORD avail = 0; BOOL ok = PeekNamedPipe(GetStdHandle(STD_INPUT_HANDLE), NULL, 0, NULL, &avail, NULL);
            if (!ok) { logf_("probe: PeekNamedPipe failed err=%lu at %lu ms\n", GetLastError(), GetTickCount() - t0); return 1; }
            if (avail) {
                char buf[4096]; DWORD n = 0; ReadFile(GetStdHandle(STD_INPUT_HANDLE), buf, avail < sizeof buf ? avail : sizeof buf, &n, NULL);
                logf_("probe: PeekNamedPipe avail=%lu at %lu ms, read %lu\n", avail, GetTickCount() - t0, n);
            }
            Sleep(10);
        }
        logf_("probe: peekwait timeout\n"); return 0;
    }
    if (!strcmp(mode, "relay")) {
        info();
        WSADATA wsa; WSAStartup(MAKEWORD(2, 2), &wsa);
        sock = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons((u_short)atoi(argv[2])); a.sin_addr.s_addr = htonl(0x7f000001);
        if (connect(sock, (struct sockaddr *)&a, sizeof a)) { logf_("probe: connect failed %d\n", WSAGetLastError()); return 1; }
        HANDLE th[2] = {CreateThread(NULL, 0, up, NULL, 0, NULL), CreateThread(NULL, 0, down, NULL, 0, NULL)};
        WaitForMultipleObjects(2, th, TRUE, INFINITE);
        logf_("probe: relay done\n");
        return argc > 3 ? atoi(argv[3]) : 0;
    }
    logf_("probe: unknown mode %s\n", mode); return 2;
}
