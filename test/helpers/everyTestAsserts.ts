// A test that asserts nothing cannot fail: make every test prove it checked something.
beforeEach(() => {
    expect.hasAssertions();
});
