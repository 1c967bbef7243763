/* Oracle helper: execute CPUID directly and print the registers, one leaf.subleaf per line:
 *   CPUID 00000007.00000002 eax=00000000 ebx=00000000 ecx=00000000 edx=00000010
 * Arguments are "leaf.subleaf" in hex. Built with gcc -static into the oracle initramfs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *dot = strchr(argv[i], '.');
		unsigned int leaf = (unsigned int)strtoul(argv[i], NULL, 16);
		unsigned int sub = dot ? (unsigned int)strtoul(dot + 1, NULL, 16) : 0;
		unsigned int r[4];
		cpuid(leaf, sub, r);
		printf("CPUID %08x.%08x eax=%08x ebx=%08x ecx=%08x edx=%08x\n", leaf, sub, r[0], r[1], r[2], r[3]);
	}
	return 0;
}
