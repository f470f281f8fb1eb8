import Foundation

/// The permission bits of `path` (0o755, say); -1 if the file system does not report them.
public func filePermissions(_ path: String) throws -> Int {
  let attributes = try FileManager.default.attributesOfItem(atPath: path)
  return (attributes[.posixPermissions] as? Int) ?? -1
}

/// Every path under `root` with its mode, modification time and size, then every file's
/// SHA-256: equal listings mean nothing under `root` was created, removed or touched.
public func treeListing(_ root: String) throws -> String {
  let result = try runCommand(
    "/bin/sh",
    [
      "-c",
      #"cd "$1" && find . -printf '%p %m %T@ %s\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum"#,
      "listing", root,
    ])
  guard result.status == 0 else { throw HTTPClientError(description: "listing failed: \(result.errors)") }
  return result.output
}
