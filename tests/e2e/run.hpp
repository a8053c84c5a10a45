// Runs the built ephemera binary (or another tool) as a user would, with a time limit.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ephemera::test {

struct RunResult {
    int exit_code = -1;  // valid when signal == 0 and !timed_out
    int signal = 0;      // the signal that killed it, if any
    bool timed_out = false;
    long max_rss_kb = 0;  // peak resident memory of the process
    std::string out;
    std::string err;
};

// Runs argv[0] with the arguments; stdin comes from `stdin_path` (or /dev/null).
// Runs argv[0] with the arguments; stdin comes from `stdin_path` (or /dev/null); in
// `working_directory` when one is given.
RunResult run(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null",
              int timeout_seconds = 60, const std::string& working_directory = "");

// A process left running while the test does other things (a server, `ephemera live`); its
// output goes to files. Killed, if still running, when the object goes.
class Background {
  public:
    Background(const std::vector<std::string>& argv, const std::string& stdout_path,
               const std::string& stderr_path);
    ~Background();
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    void signal(int signal_number);
    // Waits for it to exit: the exit code, or -1 if it had to be killed after the timeout.
    int wait(int timeout_seconds);

  private:
    int pid_ = -1;
};

// Waits until the file holds `text`; false after the timeout.
bool wait_for_text(const std::string& path, const std::string& text, int timeout_seconds);

// `ephemera` followed by the arguments.
RunResult run_ephemera(const std::vector<std::string>& args,
                       const std::string& stdin_path = "/dev/null", int timeout_seconds = 60,
                       const std::string& working_directory = "");

// ephemera-gen followed by the arguments.
RunResult run_generator(const std::vector<std::string>& args);

std::filesystem::path source_dir();
std::filesystem::path sample(const std::string& name);  // pcaps/NAME
bool have_program(const std::string& name);             // on PATH

// A fresh directory under the system temporary directory, removed with the object.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

}  // namespace ephemera::test
