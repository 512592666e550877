/* sea firmware: minimal Cortex-M startup for the MPS2 AN386 board (QEMU mps2-an386). Written by sea.
 * Vector table, reset handler (copy .data, zero .bss, paint the stack for the high-water mark, enable the FPU),
 * a SysTick handler hook and fault handlers that end the simulation. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);
void sea_systick_handler(void);

#define SEA_STACK_PAINT 0x5EA5EA5Eu

void Reset_Handler(void);
void Fault_Handler(void);

typedef void (*sea_vector_t)(void);

/* initial SP, reset, NMI, HardFault, MemManage, BusFault, UsageFault, 4 reserved, SVC, DebugMon, reserved, PendSV,
 * SysTick; external interrupts are unused */
__attribute__((section(".isr_vector"), used)) const sea_vector_t sea_vectors[16] = {
    (sea_vector_t)(uintptr_t)&_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, sea_systick_handler,
};

void Fault_Handler(void)
{
    sh_write0("sea: fault\n");
    sh_exit(3);
}

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    volatile uint32_t marker = 0;
    const uintptr_t limit = (uintptr_t)&marker - 128u; /* keep clear of this frame */
    uint32_t *p;
    int rc;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; ++dst)
        *dst = 0;
    /* paint the unused stack below this frame; main reports how much of it was touched */
    for (p = &_sstack; (uintptr_t)p < limit; ++p)
        *p = SEA_STACK_PAINT;
    /* CP10/CP11 full access (SCB->CPACR), then barriers before the first float instruction */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    rc = main();
    sh_exit(rc);
}

/* bytes of stack ever used: from the top down to the lowest word that lost its paint */
uint32_t sea_stack_used(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == SEA_STACK_PAINT)
        ++p;
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
