/*
 * The lab libvirt host's guest (docs/lab.md "The libvirt host"): a 512-byte x86 boot sector that
 * SeaBIOS loads at 0x7c00 and runs in real mode. It prints "GUEST-UP" once to COM1 (0x3f8), then
 * "GUEST-BEAT <n>" with n = 1, 2, 3, ... every 10 s (BIOS int 15h, AH=86h: wait CX:DX
 * microseconds). The verifier tells a guest resumed from a saved state (the count goes on, one
 * GUEST-UP) from one booted again (a second GUEST-UP, the count restarts at 1). It boots in about
 * a second under QEMU TCG even inside a TCG VM, where a Linux guest took minutes.
 *
 * Built on the controller by tools/lab/heartbeat_image.py (GNU as and ld from binutils).
 */
        .code16
        .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %ss
        movw    $0x7c00, %sp            /* the stack grows down from below the sector */
        sti                             /* int 15h/86h waits on the timer interrupt */
        movw    $up, %si
        call    puts
beat:
        incw    count
        movw    $beatmsg, %si
        call    puts
        movw    count, %ax
        call    putdec
        movb    $'\n', %al
        call    putc
        movw    $0x0098, %cx            /* 10,000,000 us = 0x00989680 in CX:DX */
        movw    $0x9680, %dx
        movb    $0x86, %ah
        int     $0x15
        jmp     beat

/* AL to COM1 once its transmitter holding register is empty (LSR bit 5) */
putc:
        pushw   %dx
        pushw   %ax
        movw    $0x3fd, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        popw    %ax
        movw    $0x3f8, %dx
        outb    %al, %dx
        popw    %dx
        ret

/* the NUL-terminated string at DS:SI */
puts:
        lodsb
        testb   %al, %al
        jz      2f
        call    putc
        jmp     puts
2:      ret

/* AX in decimal: digits pushed least significant first, then popped */
putdec:
        movw    $10, %bx
        xorw    %cx, %cx
3:      xorw    %dx, %dx
        divw    %bx
        pushw   %dx
        incw    %cx
        testw   %ax, %ax
        jnz     3b
4:      popw    %ax
        addb    $'0', %al
        call    putc
        loop    4b
        ret

up:      .asciz "GUEST-UP\n"
beatmsg: .asciz "GUEST-BEAT "
count:   .word  0
        .org    510
        .word   0xaa55                  /* the BIOS boots a sector that ends with 55 AA */
