"""gonka_fuzz_test: a libFuzzer target that is also a regression test over its seed corpus.

The target is a cc_test `name` built from `srcs` (which define LLVMFuzzerTestOneInput) and run
with every file of `corpus` as an argument:
  - default build (gcc) and --config=asan: linked with //tools/build_defs:fuzz_regression_main,
    which runs LLVMFuzzerTestOneInput once per corpus file, so `bazel test //...` replays the seed
    and regression (`crash-*`) inputs;
  - --config=fuzz (.bazelrc: clang, -fsanitize=fuzzer-no-link,address,undefined everywhere,
    --define=gonka_fuzz=1): linked with -fsanitize=fuzzer, a real libFuzzer binary (given files it
    runs each once; given a directory it fuzzes). bench/fuzz/run and tools/test run them.
The corpus is //testdata/fuzz:<name> (testdata/fuzz/<name>/) unless `corpus` says otherwise.
Tagged "fuzz" (tools/test and bench/fuzz/run find the targets by that tag).
"""

def gonka_fuzz_test(name, srcs, deps = [], corpus = None, size = "small", tags = [], **kwargs):
    """Defines cc_test `name` (see the file comment).

    Args:
      name: the target; also the corpus directory's name under testdata/fuzz/.
      srcs: sources defining LLVMFuzzerTestOneInput (and optionally LLVMFuzzerInitialize).
      deps: what they need.
      corpus: a filegroup of corpus files; default "//testdata/fuzz:<name>".
      size: test size.
      tags: extra tags ("fuzz" is added).
      **kwargs: passed to cc_test.
    """
    if corpus == None:
        corpus = "//testdata/fuzz:" + name
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//tools/build_defs:fuzzing": [],
            "//conditions:default": ["//tools/build_defs:fuzz_regression_main"],
        }),
        linkopts = select({
            "//tools/build_defs:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        linkstatic = True,
        data = [corpus],
        args = ["$(locations %s)" % corpus],
        size = size,
        tags = tags + ["fuzz"],
        **kwargs
    )
