import ArgumentParser

/// `contacts-fcgi`: the Contacts API's FastCGI responder and its admin commands.
@main
struct ContactsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "contacts-fcgi",
    abstract: "The Contacts API: a FastCGI responder behind nginx, and its admin commands.",
    subcommands: [
      Serve.self, Worker.self, Publisher.self, Migrate.self, Import.self, Export.self, Check.self, BackupCommand.self,
      Compact.self, ConfigCommand.self,
    ]
  )
}
