#include <cstdlib>
#include <cstring>
#include <cstdio>
int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "ok";
  if (!strcmp(mode, "heap")) { int* p = new int[4]; int v = p[argc + 3]; delete[] p; return v; }
  if (!strcmp(mode, "leak")) { void* p = malloc(77); printf("%p\n", p); p = nullptr; return 0; }
  if (!strcmp(mode, "ubsan")) { int x = 0x7fffffff; x += argc; return x & 1; }
  return 0;
}
