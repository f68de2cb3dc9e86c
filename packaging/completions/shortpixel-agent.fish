# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_shortpixel_agent_global_optspecs
    string join \n config= log-format= h/help V/version
end

function __fish_shortpixel_agent_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_shortpixel_agent_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_shortpixel_agent_using_subcommand
    set -l cmd (__fish_shortpixel_agent_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -l config -d 'Config file (default: $SHORTPIXEL_AGENT_CONFIG, else the OS config dir)' -r -F
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -l log-format -d 'How log lines on stderr look: "text" for people, "json" (one object per line) for log collectors' -r -f -a "text\t'Lines for people: time, level, message'
json\t'One JSON object per line: timestamp, level, message'"
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -s V -l version -d 'Print version'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "init" -d 'Write a commented starter config (never overwrites one)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "run" -d 'Optimize the configured folders: keep running, or once with --once'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "status" -d 'Show counts, bytes saved, failures and credits'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "restore" -d 'Put the original bytes back'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "check" -d 'Check the config, the folders\' permissions, the inotify limit and the API key, and say what to fix'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "doctor" -d 'Check the config, the folders\' permissions, the inotify limit and the API key, and say what to fix'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "backups" -d 'Show how much space the backups take, or prune old ones'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "domain" -d 'ShortPixel\'s CDN domain API: associate a web domain with your account, end that, or read the domain\'s status and quota'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "man" -d 'Print the manual page (roff) to stdout, or write one page per command into a folder'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand init" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand run" -l once -d 'Scan, process everything, wait for pending results, and exit'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand run" -l dry-run -d 'With --once: say what a run would do (files, uploads, bytes) and change nothing'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand run" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand status" -l json -d 'Print one JSON object instead of the table'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand status" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand restore" -l dry-run -d 'Show what would be restored, change nothing'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand restore" -l force -d 'Restore even files edited since they were optimized (the edit is lost)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand restore" -l all -d 'Every file the agent has changed'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand restore" -l deleted -d 'Also files optimized in place and deleted since: all of them, or those under the PATHs given (a deleted file named by its own path needs no flag)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand restore" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand check" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and not __fish_seen_subcommand_from list prune help" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and not __fish_seen_subcommand_from list prune help" -f -a "list" -d 'Count and size of the backups, the oldest, and how many are still needed (default)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and not __fish_seen_subcommand_from list prune help" -f -a "prune" -d 'Delete backups by age or to fit a total size. A backup whose file is still optimized in place (the only copy of its original) is kept unless --force'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and not __fish_seen_subcommand_from list prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -l older-than -d 'Prune backups older than this: 90d, 12w, 36h (s, m, h, d, w)' -r
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -l max-size -d 'Prune the oldest backups until all of them fit in this size: 10GiB, 500MB' -r
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -l deleted-older-than -d 'Also prune the originals of files optimized in place and deleted at least this long ago: 90d, 12w (otherwise they are kept, so a deleted file can be restored)' -r
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -l dry-run -d 'Show what would be pruned, delete nothing'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -l force -d 'Also prune backups that are the only copy of an original (those files can then never be restored)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from help" -f -a "list" -d 'Count and size of the backups, the oldest, and how many are still needed (default)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Delete backups by age or to fit a total size. A backup whose file is still optimized in place (the only copy of its original) is kept unless --force'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand backups; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand domain" -l json -d 'Print one JSON object instead of text'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand domain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand completions" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand man" -l dir -d 'Write shortpixel-agent.1 and a page per subcommand into this folder' -r -F
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand man" -s h -l help -d 'Print help'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "init" -d 'Write a commented starter config (never overwrites one)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "run" -d 'Optimize the configured folders: keep running, or once with --once'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "status" -d 'Show counts, bytes saved, failures and credits'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "restore" -d 'Put the original bytes back'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "check" -d 'Check the config, the folders\' permissions, the inotify limit and the API key, and say what to fix'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "backups" -d 'Show how much space the backups take, or prune old ones'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "domain" -d 'ShortPixel\'s CDN domain API: associate a web domain with your account, end that, or read the domain\'s status and quota'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "completions" -d 'Print a shell completion script to stdout'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "man" -d 'Print the manual page (roff) to stdout, or write one page per command into a folder'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and not __fish_seen_subcommand_from init run status restore check backups domain completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and __fish_seen_subcommand_from backups" -f -a "list" -d 'Count and size of the backups, the oldest, and how many are still needed (default)'
complete -c shortpixel-agent -n "__fish_shortpixel_agent_using_subcommand help; and __fish_seen_subcommand_from backups" -f -a "prune" -d 'Delete backups by age or to fit a total size. A backup whose file is still optimized in place (the only copy of its original) is kept unless --force'
