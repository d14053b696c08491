/* checkprng.exe: exits 0 if bcryptprimitives.dll loads and its ProcessPrng fills a buffer, 1 with a message if not.
 * wine-prefix.sh runs it to prove the stand-in DLL works before any Rust .exe needs it.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -s -o checkprng.exe checkprng.c
 */
#include <windows.h>
#include <stdio.h>

typedef BOOL(WINAPI *process_prng_fn)(PBYTE, SIZE_T);

int main(void)
{
    HMODULE dll = LoadLibraryW(L"bcryptprimitives.dll");
    if (!dll) {
        fprintf(stderr, "checkprng: cannot load bcryptprimitives.dll (error %lu)\n", GetLastError());
        return 1;
    }
    process_prng_fn prng = (process_prng_fn)(void (*)(void))GetProcAddress(dll, "ProcessPrng");
    if (!prng) {
        fprintf(stderr, "checkprng: bcryptprimitives.dll has no ProcessPrng (error %lu)\n", GetLastError());
        return 1;
    }
    BYTE a[32] = {0}, b[32] = {0};
    if (!prng(a, sizeof a) || !prng(b, sizeof b) || !memcmp(a, b, sizeof a)) {
        fprintf(stderr, "checkprng: ProcessPrng did not produce random bytes\n");
        return 1;
    }
    return 0;
}
