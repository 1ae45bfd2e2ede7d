"""gonka_cc_proto: a .proto file set -> C++ (and optionally gRPC) library.

Calls the system /usr/bin/protoc (and /usr/bin/grpc_cpp_plugin) from a genrule, because Bazel 4.2.3
offline has no working rules_proto. Import paths are workspace-relative
("gonka/proto/cosmos/tx.proto"), and the generated headers are included the same way
("gonka/proto/cosmos/tx.pb.h"). The well-known types come from /usr/include/google/protobuf.
"""

def gonka_cc_proto(name, srcs, deps = [], grpc = False, visibility = None):
    """Generates a cc_library `name` from `srcs`.

    Args:
      name: the cc_library name; `<name>_srcs` is a filegroup of the .proto files (transitively).
      srcs: .proto files in this package.
      deps: other gonka_cc_proto targets whose .proto files these import.
      grpc: also generate gRPC service stubs (*.grpc.pb.{h,cc}).
      visibility: as usual.
    """
    bases = [s[:-len(".proto")] for s in srcs]
    outs = [b + ".pb.h" for b in bases] + [b + ".pb.cc" for b in bases]
    if grpc:
        outs += [b + ".grpc.pb.h" for b in bases] + [b + ".grpc.pb.cc" for b in bases]

    native.filegroup(
        name = name + "_srcs",
        srcs = srcs + [d + "_srcs" for d in deps],
        visibility = visibility,
    )

    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [name + "_srcs"],
        outs = outs,
        cmd = ("/usr/bin/protoc -I. -I/usr/include --cpp_out=$(GENDIR) " + grpc_flags +
               " ".join(["$(location %s)" % s for s in srcs])),
    )

    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + ["//third_party:protobuf"] + (["//third_party:grpc"] if grpc else []),
        visibility = visibility,
    )
