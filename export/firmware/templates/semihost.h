/* sea firmware: Arm semihosting calls (BKPT 0xAB) for the Cortex-M example under QEMU or a debugger. Written by sea. */
#ifndef SEA_SEMIHOST_H
#define SEA_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#define SH_MODE_RB 1 /* fopen modes as semihosting numbers them */
#define SH_MODE_W 4
#define SH_MODE_WB 5

int sh_open(const char *path, int mode);          /* handle, or -1 */
int sh_close(int fd);
size_t sh_read(int fd, void *buf, size_t n);       /* bytes read */
size_t sh_write(int fd, const void *buf, size_t n); /* bytes written */
int sh_cmdline(char *buf, size_t size);            /* 0 on success */
void sh_write0(const char *text);                  /* to the debugger console */
void sh_exit(int code);                            /* ends the simulation */

#endif /* SEA_SEMIHOST_H */
