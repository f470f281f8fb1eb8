public import ArgumentParser
import ContactsCore
import ContactsPostgres
import ContactsServer
import ContactsStore
import Platform

/// `contacts-fcgi import users|queues FILE`: replaces that type's set from the directory export.
struct Import: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Replace all users or all queues with the contents of a JSON (or, for users, CSV) file.",
    discussion: """
      The whole file is validated first; on any error nothing is applied and the line and field \
      are printed. A valid file replaces the set atomically; running workers see it on their \
      next request.
      """)

  enum Kind: String, ExpressibleByArgument, CaseIterable {
    case users, queues
    var type: ContactType { self == .users ? .user : .queue }
  }

  @Argument(help: "What to import: users or queues.")
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

  func run() throws {
    let format = self.format ?? (file.lowercased().hasSuffix(".csv") ? .csv : .json)
    do {
      guard let bytes = try FileSystem.contents(of: file) else { throw ValidationError("\(file): no such file") }
      let contacts = try ImportFile.parse(bytes, type: kind.type, format: format)
      let user = by ?? Environment.value("USER") ?? "import"
      let repository: any DirectoryImporting =
        if let databaseUrl { try PostgresContactRepository(url: databaseUrl) } else {
          try FileContactRepository(directory: dataDir, log: { StandardError.write(Array("warning: \($0)\n".utf8)) })
        }
      if onlyIfEmpty, try repository.currentState().entries.contains(where: { $0.contact.type == kind.type }) {
        StandardOutput.write("the store already holds \(kind.rawValue); nothing imported (--only-if-empty)\n")
        return
      }
      let summary = try repository.importDirectory(
        kind.type, contacts: contacts, by: user, dryRun: dryRun, allowEmpty: allowEmpty)
      StandardOutput.write(summary.report(count: contacts.count, kind: kind.rawValue, file: file, dryRun: dryRun))
    } catch StoreError.importRemovesAll(_, let existing) {
      refuseRemovingAll(existing: existing)
      throw ExitCode.failure
    } catch DirectoryImportError.removesAll(_, let existing) {
      // The database's refusal: the same words as the data directory's, --allow-empty included.
      refuseRemovingAll(existing: existing)
      throw ExitCode.failure
    } catch let error as ValidationError {
      throw error
    } catch {
      // The file's own problems name it; the store's (unreachable, damaged) speak for themselves.
      let subject = error is StoreError || error is DirectoryImportError ? "\(file): " : ""
      StandardError.write(Array("contacts-fcgi import: \(subject)\(error)\nnothing was changed\n".utf8))
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

extension Import {
  /// Why an empty file was not imported, and how to import it on purpose.
  func refuseRemovingAll(existing: Int) {
    StandardError.write(
      Array(
        """
        contacts-fcgi import: \(file): the file holds no \(kind.rawValue); importing it would remove all \
        \(existing) existing \(kind.rawValue). Pass --allow-empty to do that on purpose.
        nothing was changed

        """.utf8))
  }
}

extension ImportFile.Format: ExpressibleByArgument {}

/// `contacts-fcgi migrate`: creates or upgrades the PostgreSQL schema.
struct Migrate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create or upgrade the contacts schema in a PostgreSQL database (safe to run again).")

  @Option(help: "The PostgreSQL URL (postgresql://user:pass@host:port/db).")
  var databaseUrl: String

  func run() throws {
    do {
      let (from, to) = try PostgresContactRepository.migrate(url: databaseUrl)
      StandardOutput.write(
        from == to ? "schema is at version \(to): nothing to do\n" : "schema migrated from version \(from) to \(to)\n")
    } catch {
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
      let report = try Backup.run(from: dataDir, to: to) {
        if testPauseBeforeRenameMs > 0 { Clock.sleep(milliseconds: testPauseBeforeRenameMs) }
      }
      let counts = ContactType.allCases.map { "\(report.check.counts[$0] ?? 0) \($0.rawValue)" }
      StandardOutput.write(
        """
        backed up \(dataDir) to \(to): generation \(report.check.generation), \(counts.joined(separator: ", ")), \
        \(report.files.count) files, \(report.bytes) bytes (writers waited \(report.lockedNanoseconds / 1000) µs)

        """)
    } catch {
      StandardError.write(Array("contacts-fcgi backup: \(error)\nno backup was made at \(to)\n".utf8))
      throw ExitCode.failure
    }
  }
}
