"""gonka_sdk_parts: the pieces of the installable SDK that Bazel knows and tools/install needs.

From the CcInfo of the public API targets it collects
  - `<name>.a`: one static archive of every libgonka object file (position-independent, so it
    links into PIE executables and shared libraries alike);
  - `<name>_headers.txt`: one line per public header, "<path under the execution root> <install
    path>" (generated `.pb.h` headers included; `internal/` headers and the test-only packages
    left out), built together with the headers themselves;
  - `<name>_objects.txt`: the object files in the archive, for inspection.

Bazel 4.2.3 has no rule for a static library that bundles its dependencies (cc_binary only makes
executables and shared objects, and a linkshared cc_binary exports only its own srcs' symbols
unless each dependency is alwayslink), hence this rule. The shared library is a
cc_binary(linkshared) over a cc_import(alwayslink) of this archive (gonka/BUILD.bazel).
"""

# Packages whose objects and headers are libgonka's. gonka/testing and gonka/devchain never ship
# (tools/layer_check keeps them out of the public targets' graph; this keeps them out of the SDK).
_EXCLUDED_PREFIXES = ["gonka/testing", "gonka/devchain"]

def _is_libgonka(f):
    path = f.short_path
    if not path.startswith("gonka/"):
        return False
    for prefix in _EXCLUDED_PREFIXES:
        if path.startswith(prefix + "/"):
            return False
    return True

def _gonka_sdk_parts_impl(ctx):
    headers = {}
    objects = {}
    for dep in ctx.attr.deps:
        cc = dep[CcInfo]
        for h in cc.compilation_context.headers.to_list():
            if _is_libgonka(h) and "/internal/" not in h.short_path:
                headers[h.short_path] = h
        for linker_input in cc.linking_context.linker_inputs.to_list():
            for lib in linker_input.libraries:
                objs = lib.pic_objects or lib.objects
                for o in objs:
                    if _is_libgonka(o):
                        objects[o.path] = o

    archive = ctx.outputs.archive
    object_list = [objects[k] for k in sorted(objects.keys())]
    args = ctx.actions.args()
    args.add(archive)
    args.add_all(object_list)

    # `q` (append) and not `r` (replace): two packages may each have an object called status.o.
    # `D`: deterministic (zero timestamps and ids), so the archive is reproducible.
    ctx.actions.run_shell(
        outputs = [archive],
        inputs = object_list,
        arguments = [args],
        command = 'out="$1"; shift; rm -f "$out"; /usr/bin/ar qcD "$out" "$@" && /usr/bin/ranlib -D "$out"',
        mnemonic = "GonkaArchive",
        progress_message = "Archiving libgonka (%d objects)" % len(object_list),
    )

    header_list = [headers[k] for k in sorted(headers.keys())]
    manifest = ctx.outputs.header_list
    ctx.actions.write(
        manifest,
        "".join(["%s %s\n" % (h.path, h.short_path) for h in header_list]),
    )
    object_manifest = ctx.outputs.object_list
    ctx.actions.write(object_manifest, "".join(["%s\n" % o.short_path for o in object_list]))

    return [DefaultInfo(files = depset([archive, manifest, object_manifest] + header_list))]

gonka_sdk_parts = rule(
    implementation = _gonka_sdk_parts_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
    },
    # Predeclared, so other rules can name them (cc_import of "<name>.a" makes the shared library).
    outputs = {
        "archive": "%{name}.a",
        "header_list": "%{name}_headers.txt",
        "object_list": "%{name}_objects.txt",
    },
    doc = "The static archive and the public header list of libgonka (see the module doc).",
)
