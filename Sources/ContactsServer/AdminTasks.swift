public import ContactsCore
import ContactsPostgres
public import ContactsStore
import Platform

/// What the admin commands do, as library code: the executable only parses arguments and prints.
/// Each task returns what to print, or throws an `AdminTaskFailure` with the sentence to show.
public enum AdminTasks {
  /// Which store a command works on.
  public struct Store: Sendable {
    public var dataDirectory: String
    public var databaseURL: String?

    public init(dataDirectory: String, databaseURL: String?) {
      self.dataDirectory = dataDirectory
      self.databaseURL = databaseURL
    }

    /// Opens it; a data directory must already exist when `existing` (opening creates one).
    func open(existing: Bool = false) throws -> any DirectoryImporting & DumpTransferring {
      if let databaseURL { return try PostgresContactRepository(url: databaseURL) }
      if existing, try FileSystem.identity(of: StoreLayout(directory: dataDirectory).snapshot) == nil {
        throw AdminTaskFailure("\(dataDirectory) is not a data directory (no snapshot.json)")
      }
      return try FileContactRepository(
        directory: dataDirectory, log: { StandardError.write(Array("warning: \($0)\n".utf8)) })
    }
  }

  /// `import users|queues FILE`: replaces that type's set from a directory export.
  public static func importDirectory(
    _ type: ContactType, kind: String, file: String, format: ImportFile.Format?, into store: Store, by user: String,
    dryRun: Bool, allowEmpty: Bool, onlyIfEmpty: Bool
  ) throws(AdminTaskFailure) -> String {
    var lineOfID: [String: Int] = [:]  // for the store's refusals, which know only the id
    do {
      guard let bytes = try FileSystem.contents(of: file) else { throw AdminTaskFailure("\(file): no such file") }
      let format = format ?? (file.lowercased().hasSuffix(".csv") ? .csv : .json)
      let rows = try ImportFile.parseRows(bytes, type: type, format: format)
      let contacts = rows.map(\.contact)
      for row in rows { lineOfID[row.contact.id] = row.line }
      let repository = try store.open()
      if onlyIfEmpty, try repository.currentState().entries.contains(where: { $0.type == type }) {
        return "the store already holds \(kind); nothing imported (--only-if-empty)\n"
      }
      let summary = try repository.importDirectory(
        type, contacts: contacts, by: user, dryRun: dryRun, allowEmpty: allowEmpty)
      repository.performMaintenance()  // a compaction, if the import made one due (as a worker would)
      return summary.report(count: contacts.count, kind: kind, file: file, dryRun: dryRun)
    } catch let failure as AdminTaskFailure {
      throw failure
    } catch StoreError.importIDTaken(let id, let owner), DirectoryImportError.idTaken(let id, let owner) {
      // The store decided it; the file's line is known here.
      throw AdminTaskFailure(
        "\(file): \(lineOfID[id].map { "line \($0), " } ?? "")field id: '\(id)' already belongs to a \(owner.rawValue) "
          + "contact; ids are unique across types\nnothing was changed")
    } catch StoreError.importRemovesAll(_, let existing), DirectoryImportError.removesAll(_, let existing) {
      throw AdminTaskFailure(
        "\(file): the file holds no \(kind); importing it would remove all \(existing) existing \(kind). "
          + "Pass --allow-empty to do that on purpose.\nnothing was changed")
    } catch {
      // The file's own problems name it; the store's (unreachable, damaged) speak for themselves.
      let subject = error is StoreError || error is DirectoryImportError ? "\(file): " : ""
      throw AdminTaskFailure("\(subject)\(error)\nnothing was changed")
    }
  }

  /// `import dump FILE`: loads what `export` wrote into an empty store.
  public static func importDump(file: String, into store: Store, dryRun: Bool, onlyIfEmpty: Bool)
    throws(AdminTaskFailure) -> String
  {
    do {
      guard let bytes = try FileSystem.contents(of: file) else { throw AdminTaskFailure("\(file): no such file") }
      let dump = try ContactsDump.parse(bytes)
      let repository = try store.open()
      do {
        try repository.loadDump(dump, dryRun: dryRun)
      } catch let error as StoreNotEmpty where onlyIfEmpty {
        return "\(error.description.prefix { $0 != ";" }); nothing imported (--only-if-empty)\n"
      }
      let custom = dump.contacts.filter { $0.type == .custom }.count
      return "\(dryRun ? "dry run: would load" : "loaded") \(file): generation \(dump.generation), "
        + "\(dump.contacts.count) contacts (\(custom) custom), \(dump.history.count) changes of history\n"
    } catch let failure as AdminTaskFailure {
      throw failure
    } catch {
      let subject = error is ContactsDumpError ? "\(file): " : ""
      let unchanged = error is ContactStoreUnavailable ? "" : "\nnothing was changed"
      throw AdminTaskFailure("\(subject)\(error)\(unchanged)")
    }
  }

  /// `export`: the dump's bytes, and a line saying what they hold.
  public static func export(_ store: Store) throws(AdminTaskFailure) -> (bytes: [UInt8], summary: String) {
    do {
      let dump = try store.open(existing: true).exportDump()
      return (
        dump.encode(),
        "exported generation \(dump.generation): \(dump.contacts.count) contacts, \(dump.history.count) changes of history"
      )
    } catch let failure as AdminTaskFailure {
      throw failure
    } catch {
      throw AdminTaskFailure("\(error)")
    }
  }
}

extension AdminTasks {
  /// `migrate`: creates or upgrades the PostgreSQL schema.
  public static func migrate(databaseURL: String) throws -> String {
    let (from, to) = try PostgresContactRepository.migrate(url: databaseURL)
    return from == to
      ? "schema is at version \(to): nothing to do\n" : "schema migrated from version \(from) to \(to)\n"
  }

  /// `backup`: a consistent copy of a data directory in use, and a line saying what it holds.
  public static func backup(from directory: String, to target: String, pauseBeforeRename milliseconds: Int = 0)
    throws -> String
  {
    // A copy inside the directory it copies would double it, and sit in every later backup's way.
    if let source = try FileSystem.identity(of: directory) {
      var folder = FileSystem.parentDirectory(of: FileSystem.absolute(target))
      while true {
        if let identity = try FileSystem.identity(of: folder), identity.isSameFile(as: source) {
          throw AdminTaskFailure("\(target) is inside the data directory \(directory); back up to a place outside it")
        }
        if folder == "/" || folder == "." { break }
        folder = FileSystem.parentDirectory(of: folder)
      }
    }
    let report = try Backup.run(from: directory, to: target) {
      if milliseconds > 0 { Clock.sleep(milliseconds: milliseconds) }
    }
    let counts = ContactType.allCases.map { "\(report.check.counts[$0] ?? 0) \($0.rawValue)" }
    return "backed up \(directory) to \(target): generation \(report.check.generation), "
      + "\(counts.joined(separator: ", ")), \(report.files.count) files, \(report.bytes) bytes "
      + "(writers waited \(report.lockedNanoseconds / 1000) µs)\n"
  }
}

extension AdminTasks {
  /// `compact`: folds the data directory's journal into a new snapshot now, while the pool
  /// serves (writers wait only while the records written meanwhile are copied).
  ///
  /// - Parameter pauseAt: test seam: print `paused at <step>` and sleep for good once that step
  ///   is done (a test kills the process there).
  public static func compact(directory: String, pauseAt: CompactionStep? = nil) throws -> String {
    let repository = try FileContactRepository(
      directory: directory, log: { StandardError.write(Array("warning: \($0)\n".utf8)) })
    if let pauseAt {
      repository.compactionStepHook = { step in
        guard step == pauseAt else { return }
        StandardOutput.write("paused at \(step.rawValue)\n")
        while true { Clock.sleep(milliseconds: 1000) }
      }
    }
    let before = repository.journalBytes
    try repository.compact()
    return "compacted \(directory) at generation \(repository.generation): the journal went from \(before) "
      + "to \(repository.journalBytes) bytes\n"
  }
}

/// Why an admin task did nothing (or not all): the sentence the command prints.
public struct AdminTaskFailure: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}
