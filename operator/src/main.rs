fn main() {
    let input = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    match serverless_operator::render::render(&input) {
        Ok(s) => print!("{s}"),
        Err(e) => { eprintln!("error: {e}"); std::process::exit(1) }
    }
}
