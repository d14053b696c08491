/* Stand-in bcryptprimitives.dll for Wine 8.0, which lacks it.
 *
 * Rust's std (>= 1.78) imports ProcessPrng from bcryptprimitives.dll, so without this DLL every Rust .exe dies
 * before main with STATUS_DLL_NOT_FOUND (c0000135). ProcessPrng fills the buffer with random bytes and always
 * succeeds on Windows; here it forwards to RtlGenRandom (advapi32!SystemFunction036), which Wine implements.
 * Placed in the prefix's drive_c/windows/system32; the .exe itself is unchanged.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll processprng.c processprng.def -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length); /* RtlGenRandom */

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}
