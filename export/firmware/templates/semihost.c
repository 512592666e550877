/* sea firmware: Arm semihosting (see semihost.h). Written by sea. */
#include "semihost.h"

#include <string.h>

static int32_t sh_call(int32_t op, void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *path, int mode)
{
    uint32_t a[3];
    a[0] = (uint32_t)(uintptr_t)path;
    a[1] = (uint32_t)mode;
    a[2] = (uint32_t)strlen(path);
    return sh_call(0x01, a);
}

int sh_close(int fd)
{
    uint32_t a[1];
    a[0] = (uint32_t)fd;
    return sh_call(0x02, a);
}

size_t sh_write(int fd, const void *buf, size_t n)
{
    uint32_t a[3];
    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = (uint32_t)n;
    return n - (size_t)sh_call(0x05, a); /* returns the bytes NOT written */
}

size_t sh_read(int fd, void *buf, size_t n)
{
    uint32_t a[3];
    a[0] = (uint32_t)fd;
    a[1] = (uint32_t)(uintptr_t)buf;
    a[2] = (uint32_t)n;
    return n - (size_t)sh_call(0x06, a); /* returns the bytes NOT read */
}

int sh_cmdline(char *buf, size_t size)
{
    uint32_t a[2];
    a[0] = (uint32_t)(uintptr_t)buf;
    a[1] = (uint32_t)size;
    return sh_call(0x15, a);
}

void sh_write0(const char *text)
{
    sh_call(0x04, (void *)(uintptr_t)text);
}

void sh_exit(int code)
{
    uint32_t a[2];
    a[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    a[1] = (uint32_t)code;
    sh_call(0x20, a); /* SYS_EXIT_EXTENDED: QEMU exits with `code` */
    for (;;) {
    }
}
