// swift-tools-version: 6.0
import PackageDescription

/// Settings shared by every target: Swift 6 language mode comes from the tools version;
/// these make the remaining upcoming behaviour explicit.
let swiftSettings: [SwiftSetting] = [
  // SE-0335: `any` is required for existential types.
  .enableUpcomingFeature("ExistentialAny"),
  // SE-0409: imports are internal unless marked `public`, so C never leaks into public API.
  .enableUpcomingFeature("InternalImportsByDefault"),
  // SE-0444: a file sees only the members of modules it imports itself.
  .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
  name: "contacts-fcgi",
  products: [
    .executable(name: "contacts-fcgi", targets: ["contacts-fcgi"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
  ],
  targets: [
    // libfcgi as a system library: the module map and one shim header, nothing else.
    .systemLibrary(
      name: "CFastCGI",
      pkgConfig: "fcgi",
      providers: [.apt(["libfcgi-dev"])]
    ),
    // Syscalls behind one errno helper: files, locks, signals, processes.
    .target(name: "Platform", exclude: ["README.md"], swiftSettings: swiftSettings),
    // The only code that calls FCGX_* or touches libfcgi's pointers.
    .target(
      name: "FastCGI",
      dependencies: ["CFastCGI", "Platform"],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // The domain: contacts, validation, roles, queries, JSON. No files, no sockets.
    .target(name: "ContactsCore", exclude: ["README.md"], swiftSettings: swiftSettings),
    // The data directory: locking, durable writes, per-worker cache, import, check.
    .target(
      name: "ContactsStore",
      dependencies: ["ContactsCore", "Platform"],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // libpq's header (libpq-dev) and forwarders to the library, opened with dlopen on first use:
    // workers on the data directory never map libpq and its TLS and Kerberos dependencies.
    .target(name: "CPostgreSQL"),
    // The PostgreSQL store: the only code that calls PQ*; a ContactRepository for several hosts.
    .target(
      name: "ContactsPostgres",
      dependencies: ["CPostgreSQL", "ContactsCore", "Platform"],
      swiftSettings: swiftSettings
    ),
    // zlib as a system library: the module map and one shim header, nothing else.
    .systemLibrary(
      name: "CZlib",
      pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    // gzip and gunzip of byte arrays: the only code that calls zlib or touches its pointers.
    .target(
      name: "Compression",
      dependencies: ["CZlib"],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // Request → response as a pure function over a `ContactRepository`.
    .target(
      name: "ContactsAPI",
      dependencies: ["ContactsCore", "Compression", .product(name: "Logging", package: "swift-log")],
      exclude: ["README.md"],
      swiftSettings: swiftSettings
    ),
    // The server: FastCGI params → API requests (the trust boundary), the worker loop, the
    // supervisor, operations pages, configuration.
    .target(
      name: "ContactsServer",
      dependencies: [
        "FastCGI", "Platform", "ContactsCore", "ContactsStore", "ContactsPostgres", "ContactsAPI",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // The command line: serve (supervisor + workers), import, check.
    .executableTarget(
      name: "contacts-fcgi",
      dependencies: [
        "ContactsServer", "Platform", "ContactsCore", "ContactsStore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // In-process timings of the hot paths (a benchmark: prints, asserts nothing).
    .executableTarget(
      name: "contacts-bench",
      dependencies: ["ContactsCore", "ContactsStore", "ContactsPostgres", "ContactsAPI", "Platform"],
      swiftSettings: swiftSettings
    ),
    // Test helpers: temporary directories, a raw HTTP client, the local stack under test.
    .target(
      name: "TestSupport",
      dependencies: ["Platform"],
      path: "Tests/TestSupport",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ContactsCoreTests", dependencies: ["ContactsCore", "TestSupport"], swiftSettings: swiftSettings),
    .testTarget(
      name: "CompressionTests", dependencies: ["Compression", "TestSupport"], swiftSettings: swiftSettings),
    .testTarget(
      name: "ContactsAPITests",
      dependencies: [
        "ContactsAPI", "ContactsCore", "Compression", "TestSupport", .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ContactsStoreTests",
      dependencies: ["ContactsStore", "ContactsPostgres", "ContactsCore", "ContactsAPI", "Platform", "TestSupport"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ContactsServerTests",
      dependencies: [
        "ContactsServer", "ContactsAPI", "ContactsCore", "ContactsStore", "FastCGI", "Platform", "TestSupport",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["TestSupport", "Platform"],
      swiftSettings: swiftSettings
    ),
  ]
)
