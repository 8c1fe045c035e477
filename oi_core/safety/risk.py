"""Instant line-level risk marks for a code block, from one table of rules for Python, shell and JavaScript.

Each rule in `RULES` names the languages it applies to, the view of the code it reads, a pattern, and the
mark it produces (category, level, one-line reason). The views (see `lexing`) keep rules off comments:
"code" rules (calls such as `shutil.rmtree(`) never fire on text inside strings, "strings" rules (paths
such as `~/.ssh/id_rsa`) read string literals in Python and JavaScript and the words of a shell command.
Shell rules about commands only fire where a command starts (line start, after `;`, `&&`, `|`, `$(`,
`sudo`, `bash -c "`…), so `echo rm -rf ~` is not a delete.

Shell text embedded in Python or JavaScript is classified with the shell rules too: IPython `!command`
lines, `%%bash` cells, and the strings on a line that starts another program (`os.system("sudo …")`,
`subprocess.run(["rm", "-rf", "/"])`, `execSync("curl … | sh")`).

Then `COMBOS` raise lines where two marks together mean more (a delete of a path outside the project).
At most one mark per line and category survives: the highest level. Marks are a hint shown before a
scan, not a guarantee; they are line-local by design (a path built on one line and deleted on another
is semgrep's job).
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .lexing import Views, canonical_language, views
from .types import RiskLevel, RiskMark

PY, SH, JS = "python", "shell", "javascript"
ALL = frozenset({PY, SH, JS})
LEVEL_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2}

_SEGMENT = r"[^\n;&|]*"  # the rest of one simple shell command
_TOKEN_START = r"(?:^|(?<=[\s=:\"'(,<>`]))"
_PATH_CHARS = r"[^\s\"'`;|&()<>,]*"
_HOME_RC = r"\.(?:bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|zlogin|config/fish/config\.fish)"
_RC_NEEDLES = (".bashrc", ".bash_", ".profile", ".zsh", ".zprofile", ".zlogin", "config.fish", "/etc/environment")


@dataclass(frozen=True)
class RiskRule:
    """One row of the table: where to look, what to look for, and the mark it makes.

    Shell command rules name `commands`: the rule is tried wherever one of them starts a command, and
    `pattern` must then match right after the command's name. Other rules search `pattern` on the lines
    that contain one of the plain-text `needles` (a cheap filter that keeps the classifier fast).
    """

    id: str
    languages: frozenset[str]
    view: str  # "code": outside strings and comments; "text": outside comments; "strings": string literals
    pattern: str  # a regular expression (multi-line mode), compiled on first use
    category: str
    level: RiskLevel
    reason: str
    needles: tuple[str, ...] = ()
    commands: frozenset[str] = frozenset()
    outside_only: bool = False  # the match's `path` group counts only if it lies outside the working directory


def _rule(id: str, languages: Iterable[str], view: str, pattern: str, needles: tuple[str, ...], category: str,
          level: RiskLevel, reason: str, outside_only: bool = False) -> RiskRule:
    return RiskRule(id, frozenset(languages), view, pattern, category, level, reason,
                    needles=needles, outside_only=outside_only)


def _command(id: str, commands: str, rest: str, category: str, level: RiskLevel, reason: str) -> RiskRule:
    """A shell rule for the commands named in `commands` (space-separated), with `rest` matched after the name."""
    return RiskRule(id, frozenset({SH}), "code", rest, category, level, reason,
                    commands=frozenset(commands.split()))


#: The rules, one table for every language. Tests give each rule a positive and a negative example.
RULES: tuple[RiskRule, ...] = (
    # --- files outside the working directory -------------------------------------------------------
    _rule("home-path", ALL, "strings", _TOKEN_START + rf"(?P<path>(?:~|\$HOME\b|\$\{{HOME\}})(?:/{_PATH_CHARS})?)(?![\w-])",
          ("~", "$HOME", "${HOME}"), "outside_project", "low", "uses files outside the project", outside_only=True),
    _rule("parent-path", ALL, "strings", _TOKEN_START + rf"(?P<path>\.\.(?:/{_PATH_CHARS})?)(?=[\s\"'`;|&()<>,]|$)",
          ("..",), "outside_project", "low", "uses files outside the project", outside_only=True),
    _rule("absolute-path", {SH}, "strings", _TOKEN_START + rf"(?P<path>/(?![/\s]){_PATH_CHARS}|/(?=[\s\"'`;|&()<>,]|$))",
          ("/",), "outside_project", "low", "uses files outside the project", outside_only=True),
    _rule("system-path", {PY, JS}, "strings",
          r"(?P<path>/(?:etc|usr|var|home|root|tmp|opt|bin|sbin|lib|lib64|dev|proc|sys|boot|mnt|media|srv"
          rf"|run|snap|Users|Applications|Library|System|private|Volumes)(?=[/\s\"'`,;)]|$){_PATH_CHARS})",
          ("/",), "outside_project", "low", "uses files outside the project", outside_only=True),
    _rule("home-dir-py", {PY}, "text",
          r"\b(?:pathlib\.)?Path\.home\s*\(|\bos\.(?:environ\s*\[\s*|environ\.get\s*\(\s*|getenv\s*\(\s*)[\"']HOME[\"']",
          ("home", "HOME"), "outside_project", "low", "uses your home directory"),
    _rule("home-dir-js", {JS}, "text", r"\bos\.homedir\s*\(|\bprocess\.env(?:\.HOME\b|\s*\[\s*[\"'`]HOME[\"'`])",
          ("homedir", "HOME"), "outside_project", "low", "uses your home directory"),
    # --- deletes -------------------------------------------------------------------------------------
    _command("sh-rm", "rm rmdir unlink shred srm", "", "delete", "medium", "deletes files"),
    _command("sh-rm-recursive", "rm", rf"(?={_SEGMENT}[ \t](?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)(?![\w-]))",
             "delete", "medium", "deletes files recursively"),
    _command("sh-rm-home-or-root", "rm",
             rf"(?={_SEGMENT}[ \t](?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)(?![\w-]))"
             rf"(?={_SEGMENT}[ \t][\"']?(?:~|\$HOME|\$\{{HOME\}}|/)/?\*?[\"']?(?=[ \t;&|)]|$))",
             "delete", "high", "deletes your home directory or the whole disk"),
    _command("sh-find-delete", "find", rf"(?={_SEGMENT}[ \t](?:-delete|-exec[ \t]+(?:\S*/)?rm)(?![\w-]))",
             "delete", "medium", "deletes the files it finds"),
    _rule("py-delete", {PY}, "code", r"\bos\.(?:remove|unlink|rmdir|removedirs)\s*\(|\.unlink\s*\(|\.rmdir\s*\(",
          ("remove", "unlink", "rmdir"), "delete", "medium", "deletes files"),
    _rule("py-rmtree", {PY}, "code", r"(?<![\w])(?:shutil\.)?rmtree\s*\(", ("rmtree",), "delete", "medium",
          "deletes a directory tree"),
    _rule("py-rmtree-home-or-root", {PY}, "text",
          r"\brmtree\s*\(\s*(?:[\"'](?:/|~|~/)[\"']|(?:os\.path\.)?expanduser\s*\(\s*[\"']~/?[\"']\s*\)"
          r"|(?:pathlib\.)?Path\s*\(\s*[\"'](?:/|~)[\"']\s*\)(?:\.expanduser\(\s*\))?|(?:pathlib\.)?Path\.home\s*\(\s*\)"
          r"|os\.environ\s*\[\s*[\"']HOME[\"']\s*\]|os\.(?:environ\.get|getenv)\s*\(\s*[\"']HOME[\"']\s*\))\s*[,)]",
          ("rmtree",), "delete", "high", "deletes your home directory or the whole disk"),
    _rule("js-delete", {JS}, "code",
          r"\b(?:fs|fsPromises|fse)(?:\.promises)?\.(?:rm|rmSync|rmdir|rmdirSync|unlink|unlinkSync|remove|removeSync|emptyDir)\s*\("
          r"|(?<![\w.])(?:rmSync|rmdirSync|unlinkSync|rimraf|rimrafSync)\s*\(",
          (".rm", "rmSync", "rmdir", "unlink", "remove", "emptyDir", "rimraf"), "delete", "medium", "deletes files"),
    _rule("js-delete-home-or-root", {JS}, "text",
          r"\b(?:fs|fsPromises|fse)(?:\.promises)?\.(?:rm|rmSync|rmdir|rmdirSync|remove|removeSync)\s*\(\s*"
          r"(?:[\"'`](?:/|~|~/)[\"'`]|os\.homedir\s*\(\s*\)|process\.env\.HOME)\s*[,)]",
          (".rm", ".remove"), "delete", "high", "deletes your home directory or the whole disk"),
    # --- network -------------------------------------------------------------------------------------
    _command("sh-network", "curl wget ssh scp sftp rsync nc ncat netcat socat ftp telnet aria2c http https", "",
             "network", "low", "uses the network"),
    _command("sh-git-network", "git", r"[ \t]+(?:-\S+[ \t]+)*(?:clone|pull|push|fetch)(?![\w-])",
             "network", "low", "uses the network"),
    _command("sh-install", "pip pip3 pipx uv npm pnpm yarn npx apt apt-get brew gem cargo conda mamba dnf yum pacman apk "
             "snap go python python3 py",
             r"[ \t]+(?:-\S+[ \t]+)*(?:pip[ \t]+)?(?:install|add|i|update|upgrade|get)(?![\w-])",
             "network", "medium", "installs software from the internet"),
    _rule("sh-download-run", {SH}, "text",
          r"\b(?:curl|wget)\b[^\n;&]*\|[ \t]*(?:sudo[ \t]+(?:-\S+[ \t]+)*)?(?:env[ \t]+)?"
          r"(?:(?:ba|z|da|k|fi)?sh|python[0-9.]*|perl|ruby|node)(?![\w-])"
          r"|(?:(?:ba|z|da)?sh|source|\.|eval)[ \t]+(?:-c[ \t]+)?[\"']?(?:\$\(|<\(|`)[ \t]*(?:curl|wget)\b",
          ("curl", "wget"), "network", "high", "runs a script downloaded from the internet"),
    _rule("py-network", {PY}, "code",
          r"\b(?:requests|httpx)\.(?:get|post|put|patch|delete|head|options|request|Session|Client|AsyncClient|stream)\s*\("
          r"|(?<![\w])urlopen\s*\(|\burllib\.request\.\w+\s*\(|\burlretrieve\s*\(|\bhttp\.client\.\w+\s*\("
          r"|\bsocket\.(?:socket|create_connection|create_server)\s*\(|\baiohttp\.ClientSession\s*\("
          r"|\b(?:smtplib\.SMTP|ftplib\.FTP|paramiko\.SSHClient|telnetlib\.Telnet)\w*\s*\(|\bwebbrowser\.open\w*\s*\(",
          ("requests.", "httpx.", "url", "http.client", "socket.", "aiohttp", "smtplib", "ftplib", "paramiko",
           "telnetlib", "webbrowser"), "network", "low", "uses the network"),
    _rule("js-network", {JS}, "code",
          r"(?<![\w.])fetch\s*\(|\bhttps?\.(?:get|request|createServer)\s*\(|\baxios(?:\.\w+)?\s*\("
          r"|\bnet\.(?:connect|createConnection|createServer)\s*\(|\bnew\s+WebSocket\s*\(|\bXMLHttpRequest\b"
          r"|\bdgram\.createSocket\s*\(",
          ("fetch", "http", "axios", "net.", "WebSocket", "dgram"), "network", "low", "uses the network"),
    # --- other programs and code built at run time ---------------------------------------------------
    _rule("py-subprocess", {PY}, "code",
          r"\bsubprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)\s*\("
          r"|\bos\.(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?)\s*\(|\bpty\.spawn\s*\("
          r"|\bcreate_subprocess_(?:exec|shell)\s*\(|^[ \t]*!(?=[^\s=])",
          ("subprocess", "os.", "pty.", "!"), "subprocess", "medium", "runs other programs"),
    _rule("js-subprocess", {JS}, "code",
          r"(?<![\w.])(?:exec|execSync|execFile|execFileSync|spawn|spawnSync|fork)\s*\("
          r"|\b(?:cp|childProcess|child_process)\.(?:exec|execSync|execFile|execFileSync|spawn|spawnSync|fork)\s*\(",
          ("exec", "spawn", "fork"), "subprocess", "medium", "runs other programs"),
    _rule("js-child-process", {JS}, "text",
          r"\b(?:require|import)\s*\(?\s*[\"'`](?:node:)?child_process[\"'`]|\bfrom\s+[\"'](?:node:)?child_process[\"']",
          ("child_process",), "subprocess", "medium", "runs other programs"),
    _command("sh-eval", "eval", "", "eval", "medium", "runs text as a command"),
    _rule("py-eval", {PY}, "code", r"(?<![\w.])(?:eval|exec)\s*\(|(?<![\w.])__import__\s*\(",
          ("eval", "exec", "__import__"), "eval", "medium", "runs code built at run time"),
    _rule("js-eval", {JS}, "code",
          r"(?<![\w.])eval\s*\(|\bnew\s+Function\s*\(|\bvm\.(?:runInNewContext|runInThisContext|runInContext)\s*\(",
          ("eval", "Function", "vm."), "eval", "medium", "runs code built at run time"),
    # --- privilege -----------------------------------------------------------------------------------
    _command("sh-sudo", "sudo doas pkexec run0", "", "privilege", "high", "uses sudo"),
    _command("sh-su", "su", "", "privilege", "high", "switches user"),
    _command("sh-permissions", "chmod chown chgrp chattr setfacl", "", "privilege", "medium",
             "changes file permissions or owners"),
    _command("sh-permissions-wide", "chmod",
             rf"(?={_SEGMENT}[ \t](?:0?777|a\+rwx|[ugoa]*\+[rwxt]*s[rwxt]*|[0-7]?[4-7][0-7]{{3}})(?![\w-]))",
             "privilege", "high", "makes files writable by everyone or setuid"),
    _command("sh-users", "visudo usermod useradd userdel groupadd passwd chpasswd setcap", "", "privilege", "high",
             "changes users or privileges"),
    _rule("py-permissions", {PY}, "code", r"\bos\.(?:chmod|chown|lchown|fchmod|fchown)\s*\(|\bshutil\.chown\s*\(|\.chmod\s*\(",
          ("chmod", "chown"), "privilege", "medium", "changes file permissions or owners"),
    _rule("py-setuid", {PY}, "code", r"\bos\.(?:setuid|setgid|seteuid|setegid|setreuid|setregid|setresuid|setgroups)\s*\(",
          ("os.set",), "privilege", "high", "changes the user it runs as"),
    _rule("chmod-wide", {PY, JS}, "code", r"\bchmod(?:Sync)?\s*\([^)\n]*(?:0o?777|\b511\b|S_ISUID|S_ISGID)",
          ("chmod",), "privilege", "high", "makes files writable by everyone or setuid"),
    _rule("js-permissions", {JS}, "code",
          r"\bfs(?:\.promises)?\.(?:chmod|chmodSync|chown|chownSync|lchown|lchownSync|fchmod|fchown)\s*\(",
          ("chmod", "chown"), "privilege", "medium", "changes file permissions or owners"),
    _rule("js-setuid", {JS}, "code", r"\bprocess\.(?:setuid|setgid|seteuid|setegid|setgroups)\s*\(",
          ("process.set",), "privilege", "high", "changes the user it runs as"),
    # --- environment ---------------------------------------------------------------------------------
    _command("sh-export", "export unset setenv alias", "", "environment", "low", "changes environment variables"),
    _rule("sh-path", {SH}, "code",
          r"(?:^|(?<=[\s;&|]))(?:export[ \t]+)?(?:PATH|LD_PRELOAD|LD_LIBRARY_PATH|DYLD_\w+|PYTHONPATH|NODE_OPTIONS)=",
          ("PATH=", "LD_", "DYLD_", "NODE_OPTIONS="), "environment", "medium", "changes PATH or library paths"),
    _rule("py-environ", {PY}, "code",
          r"\bos\.environ\s*\[[^\]\n]*\]\s*=(?!=)|\bos\.environ\.(?:update|setdefault|pop|popitem|clear)\s*\("
          r"|\bos\.(?:putenv|unsetenv)\s*\(|\bdel\s+os\.environ\b",
          ("environ", "putenv", "unsetenv"), "environment", "low", "changes environment variables"),
    _rule("js-environ", {JS}, "code",
          r"\bprocess\.env(?:\.\w+|\s*\[[^\]\n]*\])\s*=(?!=)|\bdelete\s+process\.env\b|\bObject\.assign\s*\(\s*process\.env\b",
          ("process.env",), "environment", "low", "changes environment variables"),
    _rule("path-variable", {PY, JS}, "text",
          r"\b(?:os\.environ\s*\[\s*|process\.env\s*\[\s*|process\.env\.)[\"'`]?"
          r"(?:PATH|LD_PRELOAD|LD_LIBRARY_PATH|PYTHONPATH|NODE_OPTIONS)\b[\"'`]?\s*\]?\s*=(?!=)",
          ("PATH", "LD_", "NODE_OPTIONS"), "environment", "medium", "changes PATH or library paths"),
    _rule("shell-rc-file", ALL, "strings",
          rf"(?:^|(?<=[\s/\"'=]))(?:{_HOME_RC}(?![\w.-])|/etc/(?:profile|environment|bash\.bashrc|zsh/zshrc)\b)",
          _RC_NEEDLES, "environment", "medium", "touches your shell start-up files"),
    _rule("sh-rc-write", {SH}, "code",
          rf"(?:>>?|\btee(?:[ \t]+-a)?)[ \t]*[\"']?(?:~|\$HOME|\$\{{HOME\}})/{_HOME_RC}(?![\w.-])",
          _RC_NEEDLES, "environment", "high", "changes your shell start-up files"),
    _command("sh-services", "systemctl service",
             r"[ \t]+(?:-\S+[ \t]+)*(?:\S+[ \t]+)?(?:enable|disable|start|stop|restart|mask|daemon-reload)(?![\w-])",
             "environment", "medium", "changes system services or scheduled jobs"),
    _command("sh-scheduled", "launchctl crontab at", r"(?![ \t]+-l(?![\w-]))(?![ \t]+(?:list|print)(?![\w-]))",
             "environment", "medium", "changes system services or scheduled jobs"),
    # --- credentials ---------------------------------------------------------------------------------
    _rule("credential-file", ALL, "strings",
          r"\.ssh/id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?![\w.-])|\.aws/credentials\b|\.netrc\b|\.git-credentials\b"
          r"|\.docker/config\.json\b|\.kube/config\b|\.pgpass\b|\.pypirc\b|\.config/gcloud\b|\.gnupg\b",
          (".ssh/id_", ".aws/", ".netrc", ".git-credentials", ".docker/", ".kube/", ".pgpass", ".pypirc", "gcloud",
           ".gnupg"), "credentials", "high", "reads or writes credential files"),
    _rule("ssh-dir", ALL, "strings", r"(?:^|(?<=[\s/\"'=]))\.ssh(?:/|(?![\w.-]))", (".ssh",),
          "credentials", "medium", "touches your SSH keys and settings"),
    # --- disks, processes, the machine ---------------------------------------------------------------
    _command("sh-format-disk", "mkfs fdisk sfdisk parted wipefs mkswap", "", "disk", "high", "formats or partitions a disk"),
    _command("sh-dd-device", "dd", rf"(?={_SEGMENT}[ \t]of=/dev/(?!null\b|zero\b|stdout\b|stderr\b))",
             "disk", "high", "writes raw data to a disk"),
    _rule("sh-device-write", {SH}, "code", r">[ \t]*/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk)\w*", ("/dev/",),
          "disk", "high", "writes raw data to a disk"),
    _command("sh-kill", "kill", "", "processes", "low", "stops a process"),
    _command("sh-kill-by-name", "killall pkill", "", "processes", "medium", "kills processes by name"),
    _command("sh-kill-all", "kill", r"[ \t]+(?:-\S+[ \t]+)*-1(?![\w-])", "processes", "high", "kills every process you own"),
    _rule("sh-fork-bomb", {SH}, "code", r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:", (":|:",),
          "processes", "high", "starts processes until the computer stops"),
    _rule("kill-call", {PY, JS}, "code", r"\b(?:os\.kill|os\.killpg|process\.kill)\s*\(", ("kill",),
          "processes", "low", "stops a process"),
    _rule("kill-all-call", {PY, JS}, "code", r"\b(?:os\.kill|process\.kill)\s*\(\s*-1\b", ("kill",),
          "processes", "high", "kills every process you own"),
    _command("sh-shutdown", "shutdown reboot halt poweroff", "", "system", "high", "shuts down or restarts the computer"),
    _command("sh-init-level", "init telinit", r"[ \t]+[06](?![\w-])", "system", "high", "shuts down or restarts the computer"),
)


@dataclass(frozen=True)
class Combo:
    """Marks of two categories on one line that together mean more: both are replaced by one mark."""

    needs: tuple[str, str]
    category: str
    level: RiskLevel
    reason: str


COMBOS: tuple[Combo, ...] = (
    Combo(("delete", "outside_project"), "delete", "high", "deletes files outside the project"),
    Combo(("eval", "network"), "eval", "high", "runs code downloaded from the internet"),
)

_RULES_BY_LANGUAGE: dict[str, tuple[RiskRule, ...]] = {
    language: tuple(rule for rule in RULES if language in rule.languages and not rule.commands) for language in ALL
}
_COMMAND_RULES: dict[str, tuple[RiskRule, ...]] = {}
for _r in RULES:
    for _name in _r.commands:
        _COMMAND_RULES[_name] = _COMMAND_RULES.get(_name, ()) + (_r,)
_PROGRAM_RULES = frozenset({"py-subprocess", "js-subprocess"})  # the strings on their lines are read as shell

# Shell command starts: after a separator, optional assignments (FOO=1), an optional path (/bin/rm) and a
# backslash (\rm); wrappers (sudo, env, xargs, then, …) are commands themselves and the next word is one too.
_SEPARATORS = re.compile(r"[\n;&|({`!]|-c [\"']")
_COMMAND_WORD = re.compile(r"[ \t]*(?:[A-Za-z_]\w*=\S*[ \t]+)*\\?(?:[^\s;&|()<>`\"']*/)?(?P<name>[\w.+-]+)")
_OPTIONS = re.compile(r"(?:[ \t]+-\S+)*")
_WRAPPERS = frozenset("sudo doas nohup time exec command builtin nice env xargs then do else if elif while until".split())

_NOT_OUTSIDE = re.compile(r"/dev/(?:null|zero|stdin|stdout|stderr|tty|u?random|fd/\d+)|/proc/self(?:/.*)?|/usr/bin/env")
_BASH_CELL = re.compile(r"\A\s*%%(?:bash|sh|script[ \t]+(?:ba|z)?sh)[ \t]*\n")
_BANG_LINE = re.compile(r"^[ \t]*!!?(?P<command>[^\s=].*)$", re.M)


def outside(path: str, cwd: str | None) -> bool:
    """Whether `path`, as written in code run from `cwd`, names something outside `cwd` (None: unknown cwd)."""
    path = path.strip("\"'")
    if _NOT_OUTSIDE.fullmatch(path):
        return False
    if path.startswith(("$HOME", "${HOME}")):
        path = "~" + path[len("${HOME}") if path.startswith("${") else len("$HOME"):]
    if path.startswith("~"):
        path = os.path.expanduser(path)
        if path.startswith("~"):
            return True  # another user's home
    if cwd is None:
        return True
    base = os.path.normpath(cwd)
    full = os.path.normpath(os.path.join(base, path))
    return not (full == base or full.startswith(base.rstrip(os.sep) + os.sep))


class _Lines:
    """Offsets to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._starts: list[int] = []
        position = text.find("\n")
        while position >= 0:
            self._starts.append(position + 1)
            position = text.find("\n", position + 1)

    def at(self, offset: int) -> int:
        return bisect.bisect_right(self._starts, offset) + 1


_COMPILED: dict[str, re.Pattern[str]] = {}


def _regex(rule: RiskRule) -> re.Pattern[str]:
    """The rule's compiled pattern; compiled when first needed, so importing the table stays cheap."""
    compiled = _COMPILED.get(rule.id)
    if compiled is None:
        compiled = _COMPILED[rule.id] = re.compile(rule.pattern, re.M)
    return compiled


def _needle_lines(text: str, needles: tuple[str, ...]) -> list[tuple[int, int]]:
    """(start, end) of each line of `text` that contains one of `needles`."""
    spans: dict[int, int] = {}
    for needle in needles:
        position = text.find(needle)
        while position >= 0:
            start = text.rfind("\n", 0, position) + 1
            end = text.find("\n", position)
            end = len(text) if end < 0 else end
            spans[start] = end
            position = text.find(needle, end)
    return sorted(spans.items())


def _matches(rule: RiskRule, view: Views, language: str) -> Iterator[tuple[int, re.Match[str]]]:
    """(offset, match) for every match of a pattern rule in the view it reads."""
    if rule.view == "strings" and language != SH:
        if rule.outside_only:  # a path is a whole string literal in Python and JavaScript
            for literal in view.strings:
                if literal.body.startswith(rule.needles) and (match := _regex(rule).match(literal.body)):
                    yield literal.start, match
        elif any(needle in view.text for needle in rule.needles):
            for literal in view.strings:
                if any(needle in literal.body for needle in rule.needles):
                    for match in _regex(rule).finditer(literal.body):
                        yield literal.start + match.start(), match
        return
    text = view.code if rule.view == "code" else view.words if rule.view == "strings" else view.text
    for start, end in _needle_lines(text, rule.needles):
        for match in _regex(rule).finditer(text, start, end):
            if rule.view == "text" and view.code[match.start()] != text[match.start()]:
                continue  # "text" rules read strings as arguments, but must start in code, not inside a string
            yield match.start(), match


def shell_commands(text: str) -> Iterator[tuple[str, int, int]]:
    """(name, start, end) of each command name in shell `text`, wrappers (sudo, env, …) included."""
    starts = [0] + [separator.end() for separator in _SEPARATORS.finditer(text)]
    for position in starts:
        while (word := _COMMAND_WORD.match(text, position)) is not None:
            name = word.group("name")
            yield name, word.start("name"), word.end()
            if name not in _WRAPPERS:
                break
            position = _OPTIONS.match(text, word.end()).end()


def _raw_marks(language: str, code: str, cwd: str | None, fixed_line: int = 0) -> Iterator[tuple[int, RiskRule]]:
    """(line, rule) for each rule that fires; `fixed_line` puts every mark on one line (embedded shell)."""
    view = views(language, code)
    lines = _Lines(code)
    for rule in _RULES_BY_LANGUAGE[language]:
        for offset, match in _matches(rule, view, language):
            if rule.outside_only and not outside(match.group("path"), cwd):
                continue
            yield (fixed_line or lines.at(offset)), rule
    if language == SH:
        for name, start, end in shell_commands(view.code):
            for rule in _COMMAND_RULES.get(name) or _COMMAND_RULES.get(name.split(".", 1)[0], ()):
                if _regex(rule).match(view.code, end):
                    yield (fixed_line or lines.at(start)), rule
    else:
        yield from _embedded_shell(language, code, view, lines, cwd)


def _embedded_shell(language: str, code: str, view: Views, lines: _Lines, cwd: str | None) -> Iterator[tuple[int, RiskRule]]:
    """Shell commands inside Python or JavaScript: `!cmd` lines, `%%bash` cells, strings given to another program."""
    if language == PY:
        cell = _BASH_CELL.match(view.text)
        if cell:
            offset_lines = code.count("\n", 0, cell.end())
            for line, rule in _raw_marks(SH, code[cell.end():], cwd):
                yield line + offset_lines, rule
            return
        if "!" in view.code:
            for bang in _BANG_LINE.finditer(view.code):
                line = lines.at(bang.start())
                yield from _raw_marks(SH, code[bang.start("command"):bang.end("command")], cwd, fixed_line=line)
    program_lines = {lines.at(offset) for rule in _RULES_BY_LANGUAGE[language] if rule.id in _PROGRAM_RULES
                     for offset, _match in _matches(rule, view, language)}
    if not program_lines:
        return
    words: dict[int, list[str]] = {}
    for literal in view.strings:
        line = lines.at(literal.start)
        if line in program_lines:
            words.setdefault(line, []).append(" ".join(literal.body.split()))
    # One shell text, one command line per program line, classified at once.
    program_line_numbers = list(words)
    shell_text = "\n".join(" ".join(parts) for parts in words.values())
    for line, rule in _raw_marks(SH, shell_text, cwd):
        yield program_line_numbers[line - 1], rule


def classify(language: str, code: str, cwd: str | None = None) -> tuple[RiskMark, ...]:
    """Risk marks for each line of `code`, sorted by line; () for languages without rules.

    `cwd` is the directory the code runs in: paths inside it are not "outside the project". With no
    `cwd`, every absolute path, `~` path and `..` path counts as outside.
    """
    canonical = canonical_language(language)
    if canonical is None or not code.strip():
        return ()
    best: dict[tuple[int, str], RiskRule | Combo] = {}
    for line, rule in _raw_marks(canonical, code, cwd):
        key = (line, rule.category)
        held = best.get(key)
        if held is None or LEVEL_ORDER[rule.level] > LEVEL_ORDER[held.level]:
            best[key] = rule
    for combo in COMBOS:
        first, second = combo.needs
        for line in {line for line, category in best if category == first}:
            if (line, second) in best:
                held = best[(line, combo.category)]
                del best[(line, first)], best[(line, second)]
                best[(line, combo.category)] = combo if LEVEL_ORDER[combo.level] > LEVEL_ORDER[held.level] else held
    marks = (RiskMark(line, category, item.level, item.reason) for (line, category), item in best.items())
    return tuple(sorted(marks, key=lambda mark: (mark.line, -LEVEL_ORDER[mark.level], mark.category)))


def fired_rules(language: str, code: str, cwd: str | None = None) -> tuple[tuple[int, str], ...]:
    """(line, rule id) for every rule that fires, before merging: what each mark came from."""
    canonical = canonical_language(language)
    if canonical is None:
        return ()
    return tuple(sorted({(line, rule.id) for line, rule in _raw_marks(canonical, code, cwd)}))


def highest_level(marks: Iterable[RiskMark]) -> RiskLevel | None:
    """The most serious level among `marks`, None when there are none."""
    levels = [mark.level for mark in marks]
    return max(levels, key=LEVEL_ORDER.__getitem__) if levels else None


def summarize(marks: Iterable[RiskMark], limit: int = 3) -> str:
    """One phrase for the approval card, most serious first: "deletes files outside the project; uses sudo"."""
    ordered = sorted(marks, key=lambda mark: (-LEVEL_ORDER[mark.level], mark.line))
    reasons = list(dict.fromkeys(mark.reason for mark in ordered))
    if len(reasons) <= limit:
        return "; ".join(reasons)
    return "; ".join(reasons[:limit]) + f"; and {len(reasons) - limit} more"
