public import ArgumentParser
import ContactsCore
import ContactsPostgres
import ContactsServer
import ContactsStore
import Platform

/// `contacts-fcgi import users|queues FILE`: replaces that type's set from the directory export.
/// `contacts-fcgi import dump FILE`: loads a whole store written by `contacts-fcgi export`.
struct Import: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: """
      Replace all users or all queues with the contents of a JSON (or, for users, CSV) file, or \
      load a dump of a whole store ('export') into an empty one.
      """,
    discussion: """
      The whole file is validated first; on any error nothing is applied and the line and field \
      are printed. 'import dump FILE' loads what 'export' wrote into an empty store, versions \
      (ETags), generation and history kept (docs/several-hosts.md, "Moving between stores").
      """)

  enum Kind: String, ExpressibleByArgument, CaseIterable {
    case users, queues, dump
    var type: ContactType { self == .users ? .user : .queue }
  }

  @Argument(help: "What to import: users, queues, or dump (a whole store, from 'export').")
  var kind: Kind

  @Argument(help: "The file to import.")
  var file: String

  @Option(help: "The data directory.")
  var dataDir: String = "/var/lib/contacts"

  @Option(help: "A PostgreSQL URL: import there instead of into the data directory.")
  var databaseUrl: String?

  @Option(help: "json or csv. [from the file name; json otherwise]")
  var format: ImportFile.Format?

  @Option(help: "Who is importing, recorded in the journal. [$USER, or 'import']")
  var by: String?

  @Flag(help: "Validate and print what would change, without changing anything.")
  var dryRun = false

  @Flag(
    help: """
      Allow a file with no users (or queues) to remove every existing one. Without it such an \
      import is refused: an empty export is more often a mistake than an intent.
      """)
  var allowEmpty = false

  @Flag(help: "Import only when the store holds no contact of this type yet (how run.sh seeds demo data).")
  var onlyIfEmpty = false

  func validate() throws {
    if kind == .dump, format != nil || by != nil || allowEmpty {
      throw ValidationError("--format, --by and --allow-empty do not apply to 'import dump'")
    }
  }

  func run() throws {
    let store = AdminTasks.Store(dataDirectory: dataDir, databaseURL: databaseUrl)
    do {
      StandardOutput.write(
        kind == .dump
          ? try AdminTasks.importDump(file: file, into: store, dryRun: dryRun, onlyIfEmpty: onlyIfEmpty)
          : try AdminTasks.importDirectory(
            kind.type, kind: kind.rawValue, file: file, format: format, into: store,
            by: by ?? Environment.value("USER") ?? "import", dryRun: dryRun, allowEmpty: allowEmpty,
            onlyIfEmpty: onlyIfEmpty))
    } catch {
      StandardError.write(Array("contacts-fcgi import\(kind == .dump ? " dump" : ""): \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// `contacts-fcgi check`: verifies a data directory without changing it.
struct Check: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: """
      Verify a data directory (parses, unique ids, journal consistent) or a PostgreSQL database \
      (its invariants); exit 1 on damage. Changes nothing.
      """)

  @Option(help: "The data directory.")
  var dataDir: String = "/var/lib/contacts"

  @Option(help: "A PostgreSQL URL: check that database instead of a data directory.")
  var databaseUrl: String?

  func run() throws {
    let health: StoreHealth
    do {
      health = try databaseUrl.map { try StoreHealth.check(databaseURL: $0) } ?? StoreHealth.check(directory: dataDir)
    } catch {
      StandardError.write(Array("contacts-fcgi check: \(error)\n".utf8))
      throw ExitCode.failure
    }
    StandardOutput.write(health.report)
    if !health.damage.isEmpty { throw ExitCode.failure }
  }
}

extension ImportFile.Format: ExpressibleByArgument {}

/// `contacts-fcgi export`: a dump of a whole store, to move it to the other kind of store.
struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write every contact with its version, the generation and the custom contacts' history as JSON.",
    discussion: """
      For moving between the data directory and PostgreSQL: 'contacts-fcgi import dump FILE' \
      loads the dump into an empty store of either kind, ETags and generation kept. Stop the \
      writers first: a write after the export is not in the dump. Changes nothing.
      """)

  @Option(help: "The data directory.")
  var dataDir: String = "/var/lib/contacts"

  @Option(help: "A PostgreSQL URL: export that database instead of a data directory.")
  var databaseUrl: String?

  @Option(help: "Write the dump to this file (replaced atomically, mode 0600). [standard output]")
  var to: String?

  func run() throws {
    do {
      let (bytes, summary) = try AdminTasks.export(AdminTasks.Store(dataDirectory: dataDir, databaseURL: databaseUrl))
      if let to {
        try FileSystem.replaceAtomically(to, with: bytes)
      } else {
        StandardOutput.write(String(decoding: bytes, as: UTF8.self))
      }
      StandardError.write(Array("\(summary)\(to.map { " to \($0)" } ?? "")\n".utf8))
    } catch {
      StandardError.write(Array("contacts-fcgi export: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// `contacts-fcgi migrate`: creates or upgrades the PostgreSQL schema.
struct Migrate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create or upgrade the contacts schema in a PostgreSQL database (safe to run again).")

  @Option(help: "The PostgreSQL URL (postgresql://user:pass@host:port/db).")
  var databaseUrl: String

  func run() throws {
    do { StandardOutput.write(try AdminTasks.migrate(databaseURL: databaseUrl)) } catch {
      StandardError.write(Array("contacts-fcgi migrate: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// `contacts-fcgi backup`: a consistent copy of a data directory in use.
struct BackupCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "backup",
    abstract: "Copy a data directory while the pool serves writes; the copy passes 'check' and can be served.",
    discussion: """
      Writers wait only while the files are opened under the lock (about one journal append). \
      The copy holds every write acknowledged before the backup began. It is written to a hidden \
      folder beside --to and renamed to --to only once it is complete, synced and checked, so an \
      interrupted backup never leaves a folder at --to. With PostgreSQL, use pg_dump or \
      pg_basebackup instead.
      """)

  @Option(help: "The data directory to copy.")
  var dataDir: String = "/var/lib/contacts"

  @Option(help: "Where the copy goes: a folder that does not exist yet (on any file system).")
  var to: String

  @Option(help: .hidden)
  var testPauseBeforeRenameMs: Int = 0

  func run() throws {
    do {
      StandardOutput.write(try AdminTasks.backup(from: dataDir, to: to, pauseBeforeRename: testPauseBeforeRenameMs))
    } catch {
      StandardError.write(Array("contacts-fcgi backup: \(error)\nno backup was made at \(to)\n".utf8))
      throw ExitCode.failure
    }
  }
}

/// `contacts-fcgi compact`: compact a data directory now (workers also do it by themselves, after
/// a response, once the journal outgrows `journalCompactionBytes` and a quarter of the snapshot).
struct Compact: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fold a data directory's journal into a new snapshot now, while the pool serves.",
    discussion: """
      Workers compact by themselves after a response once the journal is large; this does it at \
      once (before a backup, say). Writers wait only while the records written during the \
      compaction are copied into the new journal. With PostgreSQL there is nothing to compact.
      """)

  @Option(help: "The data directory.")
  var dataDir: String = "/var/lib/contacts"

  @Option(help: .hidden)
  var testPauseAt: String?

  func run() throws {
    do {
      let step = try testPauseAt.map { name in
        guard let step = CompactionStep(rawValue: name) else { throw AdminTaskFailure("no step \(name)") }
        return step
      }
      StandardOutput.write(try AdminTasks.compact(directory: dataDir, pauseAt: step))
    } catch {
      StandardError.write(Array("contacts-fcgi compact: \(error)\n".utf8))
      throw ExitCode.failure
    }
  }
}
