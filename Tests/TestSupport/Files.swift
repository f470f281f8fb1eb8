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

/// What the system's `gzip -dc` makes of `bytes`: a decoder independent of the service's zlib
/// calls. Throws when gzip refuses them (not gzip, truncated, a bad CRC).
public func systemGunzip(_ bytes: [UInt8]) throws -> [UInt8] {
  let directory = TemporaryDirectory("contacts-gunzip")
  let input = directory.file("data.gz")
  let output = directory.file("data")
  try Data(bytes).write(to: URL(fileURLWithPath: input))
  let result = try runCommand("/bin/sh", ["-c", #"gzip -dc "$1" > "$2""#, "gunzip", input, output])
  guard result.status == 0 else { throw HTTPClientError(description: "gzip -dc failed: \(result.errors)") }
  return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
}

/// What the system's `gzip -c -<level>` makes of `bytes`.
public func systemGzip(_ bytes: [UInt8], level: Int = 6) throws -> [UInt8] {
  let directory = TemporaryDirectory("contacts-gzip")
  let input = directory.file("data")
  let output = directory.file("data.gz")
  try Data(bytes).write(to: URL(fileURLWithPath: input))
  let result = try runCommand("/bin/sh", ["-c", #"gzip -c -"$3" "$1" > "$2""#, "gzip", input, output, String(level)])
  guard result.status == 0 else { throw HTTPClientError(description: "gzip -c failed: \(result.errors)") }
  return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
}
